// `npm ci` under a Node older than 22.13 stops at the preinstall check with one line saying what
// to run (scripts/check-node.cjs), and passes under Node 22 as .ci/run installs.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../helpers/hardhatCli.js";

const run = promisify(execFile);
const SCRIPT = path.join(ROOT, "scripts/check-node.cjs");
const ADVICE = "run `npx -p node@22 -- npm ci` instead.";

async function check(node: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(node, [SCRIPT], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("Node version check before installing", () => {
  let dir: string;
  /** A stand-in for the `node` npm runs on, reporting `version` (npm names it in npm_node_execpath). */
  const fakeNode = async (version: string) => {
    const file = path.join(dir, `node-${version}`);
    await writeFile(file, `#!/bin/sh\necho ${version}\n`);
    await chmod(file, 0o755);
    return file;
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "node-check-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is the root package's preinstall script", async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string>; engines: { node: string } };
    expect(pkg.scripts.preinstall).to.equal("node scripts/check-node.cjs");
    expect(pkg.engines.node).to.equal(">=22.13");
  });

  it("passes under this Node 22", async () => {
    expect(process.versions.node.split(".").map(Number)[0]).to.be.at.least(22);
    expect(await check(process.execPath)).to.deep.equal({ code: 0, stdout: "", stderr: "" });
  });

  it("fails with one line when npm runs on an older Node, even with the project's Node 22 first on PATH", async () => {
    for (const version of ["20.20.2", "22.12.9", "18.19.0"]) {
      const result = await check(process.execPath, { npm_node_execpath: await fakeNode(version) });
      expect(result.code, version).to.equal(1);
      expect(result.stderr).to.equal(`This project needs Node.js >= 22.13.0 (npm runs on v${version}): ${ADVICE}\n`);
    }
    for (const version of ["22.13.0", "22.23.3", "24.1.0"]) {
      expect((await check(process.execPath, { npm_node_execpath: await fakeNode(version) })).code, version).to.equal(0);
    }
  });

  it("fails under the system's old Node itself, where there is one", async function () {
    const candidates = ["/usr/bin/node", "/usr/local/bin/node", "/bin/node"].filter(existsSync);
    const old: string[] = [];
    for (const node of candidates) {
      const { stdout } = await run(node, ["-p", "process.versions.node"]);
      const [major, minor] = stdout.trim().split(".").map(Number) as [number, number];
      if (major < 22 || (major === 22 && minor < 13)) old.push(node);
    }
    if (old.length === 0) this.skip(); // only a new Node here: the case above covers the logic
    for (const node of old) {
      const result = await check(node, { npm_node_execpath: node });
      expect(result.code, node).to.equal(1);
      expect(result.stderr).to.match(/^This project needs Node\.js >= 22\.13\.0 \(npm runs on v\d+\.\d+\.\d+\): /);
    }
  });
});
