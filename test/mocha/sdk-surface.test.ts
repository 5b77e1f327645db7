// The SDK's public surface, pinned: every export of each entry point, by name and kind (class,
// function, constant, interface, type, enum), read from the built declarations with the
// TypeScript compiler. A reshape must not drop or change any of them; a deliberate addition
// regenerates the list with MAILSERVER_UPDATE_SURFACE=1 and shows up in review.
import { expect } from "chai";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import ts from "typescript";
import { ROOT } from "../helpers/hardhatCli.js";

const ENTRIES = { ".": "sdk/dist/index.d.ts", "./discovery": "sdk/dist/discovery/index.d.ts", "./server": "sdk/dist/server/index.d.ts" } as const;
const PINNED = path.join(ROOT, "test/fixtures/sdk-surface.json");

function kindOf(symbol: ts.Symbol, checker: ts.TypeChecker): string {
  const s = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const f = s.flags;
  if (f & ts.SymbolFlags.Class) return "class";
  if (f & ts.SymbolFlags.Enum) return "enum";
  if (f & ts.SymbolFlags.Function) return "function";
  if (f & ts.SymbolFlags.Variable) return "const";
  if (f & ts.SymbolFlags.Interface) return "interface";
  if (f & ts.SymbolFlags.TypeAlias) return "type";
  return `flags:${f}`;
}

function surface(): Record<string, Record<string, string>> {
  const files = Object.values(ENTRIES).map((f) => path.join(ROOT, f));
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const result: Record<string, Record<string, string>> = {};
  for (const [entry, file] of Object.entries(ENTRIES)) {
    const source = program.getSourceFile(path.join(ROOT, file));
    if (source === undefined) throw new Error(`${file} is missing: build the SDK first`);
    const module = checker.getSymbolAtLocation(source)!;
    const exports: Record<string, string> = {};
    for (const symbol of checker.getExportsOfModule(module).sort((a, b) => a.name.localeCompare(b.name))) exports[symbol.name] = kindOf(symbol, checker);
    result[entry] = exports;
  }
  return result;
}

describe("SDK public surface", function () {
  this.timeout(120_000);

  it("every entry point exports exactly the pinned names, each of the pinned kind", async () => {
    const actual = surface();
    if (process.env.MAILSERVER_UPDATE_SURFACE === "1") await writeFile(PINNED, `${JSON.stringify(actual, null, 1)}\n`);
    const pinned = JSON.parse(await readFile(PINNED, "utf8")) as Record<string, Record<string, string>>;
    for (const entry of Object.keys(ENTRIES)) {
      const missing = Object.keys(pinned[entry] ?? {}).filter((name) => !(name in actual[entry]!));
      const added = Object.keys(actual[entry]!).filter((name) => !(name in (pinned[entry] ?? {})));
      const changed = Object.keys(actual[entry]!).filter((name) => name in (pinned[entry] ?? {}) && pinned[entry]![name] !== actual[entry]![name]);
      expect({ entry, missing, added, changed }).to.deep.equal({ entry, missing: [], added: [], changed: [] });
    }
  });
});
