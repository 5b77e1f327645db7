// A plain `npm ci` under a Node older than 22.13 stops before downloading anything, and its error
// names the install command README.md's quick start gives; the same lockfile passes npm's checks
// under Node 22. (The full install with that command is what .ci/run does on a clean clone.)
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../helpers/hardhatCli.js";
import { readmeInstallCommand } from "../helpers/readme.js";

const run = promisify(execFile);

/** npm's own CLI script, to run it under a Node of the test's choice. */
function npmCli(): string {
  const npm = process.env.PATH!.split(path.delimiter).map((dir) => path.join(dir, "npm")).find(existsSync);
  if (npm === undefined) throw new Error("no npm on PATH");
  return path.join(path.dirname(realpathSync(npm)), "npm-cli.js");
}

/** The environment of a user's shell: none of the npm_* variables `npm run` adds. */
function userEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
}

async function npm(node: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(node, [npmCli(), ...args], { cwd, env: userEnv(), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("Node version check before installing", () => {
  let dir: string;

  before(async () => {
    // The project's install inputs alone, as in a fresh clone.
    dir = await mkdtemp(path.join(tmpdir(), "node-check-"));
    for (const file of ["package.json", "package-lock.json", ".npmrc"]) await copyFile(path.join(ROOT, file), path.join(dir, file));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is npm's engine-strict check of the root's engines, whose message names README's install command", async () => {
    const npmrc = await readFile(path.join(ROOT, ".npmrc"), "utf8");
    expect(npmrc).to.match(/^engine-strict=true$/m);
    const pkg = JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")) as { engines: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.engines.node).to.equal(">=22.13");
    const command = await readmeInstallCommand();
    expect(command).to.equal("npx -y -p node@22 -- npm ci");
    expect(pkg.engines["//"]).to.equal(`under an older Node.js, install with: ${command}`);
    // A preinstall script would run only after the whole tree is installed: none is used.
    expect(pkg.scripts.preinstall).to.equal(undefined);
  });

  it("passes npm's checks under this Node 22", async () => {
    expect(process.versions.node.split(".").map(Number)[0]).to.be.at.least(22);
    const result = await npm(process.execPath, ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"], dir);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stderr).to.not.match(/EBADENGINE/);
    expect(existsSync(path.join(dir, "node_modules")), "a dry run installs nothing").to.equal(false);
  });

  it("fails under the system's old Node before downloading anything, naming the command to run", async function () {
    const candidates = ["/usr/bin/node", "/usr/local/bin/node", "/bin/node"].filter(existsSync);
    const old: string[] = [];
    for (const node of candidates) {
      const { stdout } = await run(node, ["-p", "process.versions.node"]);
      const [major, minor] = stdout.trim().split(".").map(Number) as [number, number];
      if (major < 22 || (major === 22 && minor < 13)) old.push(node);
    }
    if (old.length === 0) this.skip(); // only a new Node here: npm cannot pretend another version
    const command = await readmeInstallCommand();
    for (const node of old) {
      const result = await npm(node, ["ci"], dir);
      expect(result.code, node).to.not.equal(0);
      expect(result.stderr).to.include("EBADENGINE");
      expect(result.stderr).to.include(`install with: ${command}`);
      expect(existsSync(path.join(dir, "node_modules")), "nothing installed").to.equal(false);
    }
  });
});
