// Runs the project's Hardhat CLI as child processes, the way a user does: a `hardhat node` on a
// free port and one-shot commands (`hardhat run ...`, `hardhat curator ...`) against it.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** One JSON-RPC call over HTTP. */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

export interface LocalNode {
  url: string;
  port: number;
  /** Kills the node and every process of its group; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `npx hardhat node` on a free port in its own process group and waits until it answers
 * `eth_chainId`. The group is killed on stop(), and also if the node never comes up.
 */
export async function startHardhatNode(timeoutMs = 60_000): Promise<LocalNode> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn("npx", ["hardhat", "node", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: ROOT,
    env: process.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr!.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let alive = true;
  // Should the test process end without stop() (a crash, an interrupt), take the node down too.
  killGroupOnExit(child, exited);
  void exited.then(() => (alive = false));

  const stop = async () => {
    if (!alive) return;
    killGroup(child, "SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive) throw new Error(`hardhat node exited before answering:\n${output}`);
    try {
      await rpc(url, "eth_chainId");
      return { url, port, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`hardhat node did not answer on ${url} within ${timeoutMs} ms:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Signals a detached child's whole process group (it may have started children of its own). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Should the test process end first (a crash, an interrupt), take the child's group down too. */
export function killGroupOnExit(child: ChildProcess, exited: Promise<unknown>): void {
  const onExit = () => killGroup(child, "SIGKILL");
  process.once("exit", onExit);
  void exited.then(() => process.off("exit", onExit));
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stderr without blank lines and the noise of the tools around the task (npm, Hardhat warnings). */
  errorLines: string[];
}

/** Runs `npx hardhat <args>` to completion with extra environment variables. */
export function hardhat(args: string[], env: Record<string, string>, timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["hardhat", ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      killGroup(child, "SIGKILL");
      reject(new Error(`hardhat ${args.join(" ")} timed out after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const errorLines = stderr
        .split("\n")
        .map((line) => line.trimEnd())
        .filter((line) => line !== "" && !/^npm warn/i.test(line) && !/^WARNING:/.test(line));
      resolve({ code, stdout, stderr, errorLines });
    });
  });
}
