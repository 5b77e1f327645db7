// The published package works on its own: pack it, install the tarball into an empty project and
// import it from a plain ESM script and require it from CommonJS, as a user would.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SignableENR } from "@chainsafe/enr";
import { getBytes, keccak256, SigningKey } from "ethers";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const SCRIPT = `
import { nodeIdFromPrivateKey, parseEnr, MailserverSdkError, MAILSERVER_KIND } from "@status/mailserver-sdk";
const [key, enr] = process.argv.slice(2);
const parsed = parseEnr(enr);
let invalid = "none";
try { parseEnr("enr:not-an-enr"); } catch (error) { invalid = error instanceof MailserverSdkError ? error.code : "other"; }
const { AccessGate, SubscriptionIndex } = await import("@status/mailserver-sdk/server");
const { Discv5CrawlerSource, MailserverSelector } = await import("@status/mailserver-sdk/discovery");
const entries = [AccessGate, SubscriptionIndex, Discv5CrawlerSource, MailserverSelector].map((f) => typeof f);
// better-sqlite3 is an optional peer: not installed here, so SQLite storage says what to install.
let sqlite = "opened";
try { await SubscriptionIndex.open("index.sqlite", { provider: {}, chainId: 1n, escrow: "0x" + "11".repeat(20), startBlock: 0 }); } catch (error) { sqlite = error.code + ": " + error.message; }
console.log(JSON.stringify({ nodeId: nodeIdFromPrivateKey(key), enrNodeId: parsed.nodeId, ip: parsed.ip, tcp: parsed.tcp, invalid, kind: MAILSERVER_KIND, entries, sqlite }));
`;

const REQUIRE_SCRIPT = `
const { nodeIdFromPrivateKey } = require("@status/mailserver-sdk");
const { AccessGate } = require("@status/mailserver-sdk/server");
const { MailserverSelector } = require("@status/mailserver-sdk/discovery");
console.log(JSON.stringify({ nodeId: nodeIdFromPrivateKey(process.argv[2]), server: typeof AccessGate, discovery: typeof MailserverSelector }));
`;

describe("SDK package", function () {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sdk-pack-"));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("installs from its tarball into an empty project and runs as ESM", async () => {
    // `npm test` builds first; packing must not rebuild under tests that already loaded dist.
    expect(existsSync(join(root, "sdk/dist/index.js")), "build the SDK first").to.equal(true);
    await run("npm", ["pack", "-w", "@status/mailserver-sdk", "--ignore-scripts", "--pack-destination", dir], { cwd: root });
    const tarball = (await readdir(dir)).find((f) => f.endsWith(".tgz"));
    expect(tarball).to.be.a("string");

    const project = join(dir, "app");
    await run("mkdir", ["-p", project]);
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }));
    await run("npm", ["install", join(dir, tarball!), "ethers@6", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: project });
    await writeFile(join(project, "check.mjs"), SCRIPT);

    const key = "0x" + "42".repeat(32);
    const enr = SignableENR.createV4(getBytes(key));
    enr.ip = "10.9.8.7";
    enr.tcp = 30303;
    const { stdout } = await run(process.execPath, ["check.mjs", key, enr.encodeTxt()], { cwd: project });
    const output = JSON.parse(stdout.trim());
    const expectedId = keccak256("0x" + new SigningKey(key).publicKey.slice(4));
    expect(output).to.deep.equal({
      nodeId: expectedId,
      enrNodeId: expectedId,
      ip: "10.9.8.7",
      tcp: 30303,
      invalid: "INVALID_ENR",
      kind: keccak256(new TextEncoder().encode("mailserver")),
      entries: ["function", "function", "function", "function"],
      sqlite: "INVALID_ARGUMENT: SubscriptionIndex.open needs the better-sqlite3 package (npm install better-sqlite3@12)",
    });
    // An app's install builds no native SQLite module.
    expect(existsSync(join(project, "node_modules/better-sqlite3"))).to.equal(false);

    // Node 22+ can require ES modules: CommonJS code takes the same entry points.
    await writeFile(join(project, "check.cjs"), REQUIRE_SCRIPT);
    const required = await run(process.execPath, ["check.cjs", key], { cwd: project });
    expect(JSON.parse(required.stdout.trim())).to.deep.equal({ nodeId: expectedId, server: "function", discovery: "function" });

    // What ships: the licence, the README, compiled code and types; no source maps (the sources
    // are not shipped, so maps would point at nothing).
    const { stdout: listing } = await run("tar", ["-tzf", join(dir, tarball!)]);
    const files = listing.trim().split("\n");
    expect(files).to.include.members(["package/LICENSE", "package/README.md", "package/package.json", "package/dist/index.js", "package/dist/index.d.ts"]);
    expect(files.filter((f) => f.endsWith(".map"))).to.deep.equal([]);
    expect(files.filter((f) => !/^package\/(dist\/|LICENSE$|README\.md$|package\.json$)/.test(f))).to.deep.equal([]);
  });
});
