// The SDK's module graph, read from its sources: no import cycle (type-only imports count too: a
// cycle of types is still two modules that cannot be understood apart), and the Node-only folders
// (sdk/src/server/, the `/server` entry; sdk/src/discovery/, the `/discovery` entry) reached only
// from themselves, so the isomorphic root can never pull them in.
import { expect } from "chai";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { ROOT } from "../helpers/hardhatCli.js";

const SRC = path.join(ROOT, "sdk/src");
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"|import\(\s*"(\.[^"]+)"\s*\)/g;

async function sources(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    // Generated from the contracts; never imports the SDK.
    if (entry.isDirectory()) files.push(...(entry.name === "typechain" ? [] : await sources(full)));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(full);
  }
  return files;
}

/** Each source file (relative to sdk/src) and the SDK files it imports. */
async function graph(): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  for (const file of await sources(SRC)) {
    const text = await readFile(file, "utf8");
    const deps = [...text.matchAll(IMPORT)]
      .map((m) => path.relative(SRC, path.resolve(path.dirname(file), (m[1] ?? m[2]!).replace(/\.js$/, ".ts"))))
      .filter((dep) => !dep.startsWith("typechain"));
    result.set(path.relative(SRC, file), deps);
  }
  return result;
}

/** The folders of the Node-only entry points (`/server`, `/discovery`); the rest is isomorphic. */
const NODE_ONLY = ["server/", "discovery/"] as const;

/** Imports of `folder` from files outside it, as "a -> b". */
export function leaksOf(modules: Map<string, string[]>, folder: string): string[] {
  return [...modules].flatMap(([file, deps]) => (file.startsWith(folder) ? [] : deps.filter((d) => d.startsWith(folder)).map((d) => `${file} -> ${d}`)));
}

/** Every cycle found by a depth-first walk, as "a -> b -> a". */
export function cyclesOf(modules: Map<string, string[]>): string[] {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, stack: string[]) => {
    state.set(file, "open");
    stack.push(file);
    for (const dep of modules.get(file) ?? []) {
      if (!modules.has(dep)) continue;
      if (state.get(dep) === "open") cycles.push([...stack.slice(stack.indexOf(dep)), dep].join(" -> "));
      else if (!state.has(dep)) visit(dep, stack);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of modules.keys()) if (!state.has(file)) visit(file, []);
  return cycles;
}

describe("SDK module graph", () => {
  it("every import resolves to a source file", async () => {
    const modules = await graph();
    const missing = [...modules].flatMap(([file, deps]) => deps.filter((d) => !modules.has(d)).map((d) => `${file} -> ${d}`));
    expect(missing).to.deep.equal([]);
  });

  it("has no import cycle", async () => {
    expect(cyclesOf(await graph())).to.deep.equal([]);
  });

  it("finds a cycle when there is one (the check can fail)", () => {
    expect(cyclesOf(new Map([["a.ts", ["b.ts"]], ["b.ts", ["a.ts"]], ["c.ts", ["a.ts"]]]))).to.deep.equal(["a.ts -> b.ts -> a.ts"]);
  });

  // discovery/ may use nothing of server/ either, nor server/ of discovery/: each entry's own.
  for (const folder of NODE_ONLY) {
    it(`the Node-only folder ${folder} is imported only from itself`, async () => {
      expect(leaksOf(await graph(), folder)).to.deep.equal([]);
    });
  }

  it("finds an import into a Node-only folder from outside it (the check can fail)", () => {
    const modules = new Map([["index.ts", ["discovery/node.ts"]], ["discovery/index.ts", ["discovery/node.ts", "selection/rank.ts"]], ["discovery/node.ts", []]]);
    expect(leaksOf(modules, "discovery/")).to.deep.equal(["index.ts -> discovery/node.ts"]);
  });
});
