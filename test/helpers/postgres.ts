// A real PostgreSQL server for the archive tests: initdb into a temporary folder, `postgres` on a
// free loopback port, killed and deleted on stop(). Uses Debian's `postgresql` package
// (/usr/lib/postgresql/<version>/bin). initdb and postgres refuse to run as root, so as root
// they run as the `postgres` system user (which that package creates). Missing binaries are an
// error, never a skip: these tests must run.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { killGroup, killGroupOnExit } from "./hardhatCli.js";
import { freePort } from "./hardhatCli.js";

const run = promisify(execFile);

export interface LocalPostgres {
  port: number;
  /** A connection URL for `database` (created on first use by createDatabase). */
  url(database?: string): string;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, "bin", "initdb"))) : [];
  if (versions.length === 0) throw new Error("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): install Debian's postgresql package");
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(root, versions[0]!, "bin");
}

export async function startPostgres(): Promise<LocalPostgres> {
  const bin = binDir();
  const asRoot = userInfo().uid === 0;
  const dir = await mkdtemp(path.join(tmpdir(), "mailserver-pg-"));
  const user = asRoot ? "postgres" : userInfo().username;
  const wrap = (command: string, args: string[]): [string, string[]] => (asRoot ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args]);
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = path.join(dir, "data");
  const [initCmd, initArgs] = wrap(path.join(bin, "initdb"), ["-D", data, "-U", user, "--auth=trust", "--no-sync", "-E", "UTF8"]);
  await run(initCmd, initArgs, { cwd: dir });
  const port = await freePort();
  const [cmd, args] = wrap(path.join(bin, "postgres"), [
    "-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
  ]);
  const child: ChildProcess = spawn(cmd, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], detached: true });
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));
  const kill = (signal: NodeJS.Signals) => killGroup(child, signal);
  killGroupOnExit(child, exited);
  const url = (database = "postgres") => `postgres://${user}@127.0.0.1:${port}/${database}`;
  const stop = async () => {
    if (alive) {
      kill("SIGINT"); // fast shutdown
      const timer = setTimeout(() => kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!alive) {
      await stop();
      throw new Error(`postgres exited before accepting connections:\n${output}`);
    }
    const client = new pg.Client({ connectionString: url() });
    try {
      await client.connect();
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`postgres did not accept connections on ${port}:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return {
    port,
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
  };
}
