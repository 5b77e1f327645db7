// An operator runs the mail server from its own tarball, without a clone: pack the SDK and the
// server, install both tarballs into an empty project (the server depends on the SDK, which is not
// on the registry yet), run `mailserver-node --help`, then serve for real in free mode.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import { ROOT } from "../helpers/hardhatCli.js";
import { startServerProcess, writeConfig, type ServerProcess } from "../helpers/serverProcess.js";

const run = promisify(execFile);

describe("mail server package", function () {
  this.timeout(300_000);
  let dir: string;
  let server: ServerProcess | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "server-pack-"));
  });
  after(async () => {
    await server?.stop("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  it("installs from its tarball into an empty project, next to the SDK's, and serves", async () => {
    // `npm test` builds first; packing must not rebuild under tests that already loaded dist.
    for (const built of ["sdk/dist/index.js", "server/dist/cli.js"]) expect(existsSync(path.join(ROOT, built)), `build first: ${built}`).to.equal(true);
    const tarballs = path.join(dir, "tarballs");
    await mkdir(tarballs);
    for (const workspace of ["@status/mailserver-sdk", "@status/mailserver-node"]) {
      await run("npm", ["pack", "-w", workspace, "--ignore-scripts", "--pack-destination", tarballs], { cwd: ROOT });
    }
    // Publishable as they are: not private, and nothing npm would "correct" (and so drop) on
    // publish, as it drops a bin path written "./bin/...". A dry run sends nothing.
    const published = await run("npm", ["publish", "--dry-run", "--ignore-scripts", "-w", "@status/mailserver-sdk", "-w", "@status/mailserver-node"], { cwd: ROOT });
    expect(published.stdout, published.stderr).to.include("+ @status/mailserver-sdk@0.1.0").and.include("+ @status/mailserver-node@0.1.0");
    expect(published.stderr).to.not.match(/auto-corrected|errors corrected|EPRIVATE/);
    const files = (await readdir(tarballs)).sort();
    expect(files).to.deep.equal(["status-mailserver-node-0.1.0.tgz", "status-mailserver-sdk-0.1.0.tgz"]);

    const { stdout: listing } = await run("tar", ["-tzf", path.join(tarballs, files[0])]);
    const shipped = listing.trim().split("\n");
    expect(shipped).to.include.members(["package/LICENSE", "package/README.md", "package/bin/mailserver-node.js", "package/bin/mailserver-probe.js", "package/dist/probe/cli.js", "package/dist/cli.js", "package/dist/index.d.ts"]);
    expect(shipped.filter((f) => !/^package\/(dist\/|bin\/|LICENSE$|README\.md$|package\.json$)/.test(f))).to.deep.equal([]);
    expect(shipped.filter((f) => f.endsWith(".map"))).to.deep.equal([]);

    const project = path.join(dir, "operator");
    await mkdir(project);
    await writeFile(path.join(project, "package.json"), JSON.stringify({ name: "operator", version: "1.0.0", private: true }));
    await run("npm", ["install", ...files.map((f) => path.join(tarballs, f)), "--prefer-offline", "--no-audit", "--no-fund"], { cwd: project });
    const bin = path.join(project, "node_modules", ".bin", "mailserver-node");
    expect(existsSync(bin)).to.equal(true);
    const help = await run(process.execPath, [bin, "--help"], { cwd: project });
    expect(help.stdout).to.match(/^usage: mailserver-node /);
    const probeBin = path.join(project, "node_modules", ".bin", "mailserver-probe");
    expect(existsSync(probeBin)).to.equal(true);
    expect((await run(process.execPath, [probeBin, "--help"], { cwd: project })).stdout).to.match(/^usage: mailserver-probe /);

    // Its library entry point, imported and required.
    const imported = await run(process.execPath, ["--input-type=module", "-e", `const m = await import("@status/mailserver-node"); console.log(typeof m.startServer)`], { cwd: project });
    expect(imported.stdout.trim()).to.equal("function");
    const required = await run(process.execPath, ["-e", `console.log(typeof require("@status/mailserver-node").parseConfig)`], { cwd: project });
    expect(required.stdout.trim()).to.equal("function");

    // Serve: free mode needs no chain.
    await writeFile(path.join(project, "node.key"), `${Wallet.createRandom().privateKey.slice(2)}\n`);
    const config = await writeConfig(project, "mailserver.json", {
      nodeKeyFile: "node.key",
      listen: ["/ip4/127.0.0.1/tcp/0/ws"],
      mode: "free",
      archive: { backend: "sqlite", path: "archive.sqlite" },
      logLevel: "info",
    });
    server = startServerProcess(config, { bin: path.join(project, "node_modules", "@status", "mailserver-node", "bin", "mailserver-node.js"), cwd: project });
    const serving = await server.waitFor("serving", 60_000);
    expect(serving.mode).to.equal("free");
    expect(serving.peerId).to.match(/^16Uiu2/);
    expect(await server.stop("SIGTERM")).to.equal(0);
  });
});
