// Runs `mailserver-node --config <file>` as a child process, the way an operator does, and reads
// its JSON-line log.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { ROOT, killGroup, killGroupOnExit } from "./hardhatCli.js";

export interface ServerProcess {
  child: ChildProcess;
  /** Parsed log lines so far. */
  events: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log line of this event (waits for it). */
  waitFor(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function writeConfig(dir: string, name: string, config: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

export const BIN = path.join(ROOT, "server", "bin", "mailserver-node.js");

/**
 * The `mailserver-node` bin under this Node (its own process, so signals and exit codes are its
 * own); by default the workspace's, or another install's (`bin`, run from `cwd`).
 */
export function startServerProcess(configFile: string, options: { bin?: string; cwd?: string } = {}): ServerProcess {
  const child = spawn(process.execPath, [options.bin ?? BIN, "--config", configFile], {
    cwd: options.cwd ?? ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const events: Record<string, unknown>[] = [];
  let buffer = "";
  let stderr = "";
  const waiters: { event: string; resolve: (e: Record<string, unknown>) => void }[] = [];
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let at: number;
    while ((at = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      events.push(parsed);
      for (const w of waiters.filter((w) => w.event === parsed.event)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  killGroupOnExit(child, exited);
  return {
    child,
    events,
    stderr: () => stderr,
    exited,
    waitFor(event, timeoutMs = 30_000) {
      const seen = events.find((e) => e.event === event);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${event}" log line within ${timeoutMs} ms; stderr:\n${stderr}\nlog:\n${events.map((e) => JSON.stringify(e)).join("\n")}`)), timeoutMs);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`server exited (${code}) before "${event}"; stderr:\n${stderr}`));
        });
        waiters.push({
          event,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
