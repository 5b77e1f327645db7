// `mailserver-node --config <file>`: runs the mail server until SIGINT/SIGTERM.
// `mailserver-node key --config <file>`: makes the node key (once) and prints what to register.
import { oneLine, readCommandLine } from "./commandLine.js";
import { loadConfig } from "./config.js";
import { createNodeKey, readNodeKey } from "./keyFile.js";
import { jsonLogger, type Logger } from "./log.js";
import type { RunningServer } from "./app.js";

const USAGE = [
  "usage: mailserver-node --config <file.json>        run the mail server",
  "       mailserver-node key --config <file.json>    make the node key (once); print its peer id, node id and ENR",
].join("\n");

const SHUTDOWN_DEADLINE_MS = 30_000;

/** Runs the CLI; resolves to an exit code for errors before the server runs. */
export async function main(argv: readonly string[]): Promise<number | undefined> {
  const line = readCommandLine(argv, USAGE);
  if (typeof line === "number") return line;
  const { command, file } = line;
  if (command === "key") return key(file);
  // Signals are handled from the start: one that comes while the node starts stops it once it
  // runs (start-up has its own deadlines), instead of killing it half-opened.
  let running: RunningServer | undefined;
  let logger: Logger | undefined;
  let signalled: NodeJS.Signals | undefined;
  let startupFailed = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (signalled !== undefined) return;
    signalled = signal;
    logger?.log("info", "shutting-down", { signal });
    // Whatever hangs (a peer, the RPC, the database), the process ends: an operator's SIGTERM is
    // followed by SIGKILL anyway, and an orderly exit with a log line beats that.
    setTimeout(() => {
      logger?.log("error", "shutdown-timeout", { afterMs: SHUTDOWN_DEADLINE_MS });
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    if (running !== undefined) stopAndExit(running);
    else if (logger === undefined || startupFailed) process.exit(1);
  };
  const stopAndExit = (server: RunningServer) => {
    server.stop().then(
      () => {
        logger?.log("info", "shutdown-complete", {});
        process.exit(0);
      },
      (error: unknown) => {
        logger?.log("error", "shutdown-failed", { error: String(error) });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  try {
    const config = await loadConfig(file);
    logger = jsonLogger(config.logLevel);
    const privateKey = await readNodeKey(config.nodeKeyFile);
    // The node's stack loads only once the configuration is known to be good: errors come fast.
    const { startServer } = await import("./app.js");
    running = await startServer(config, logger, { privateKey });
  } catch (error) {
    startupFailed = true;
    process.off("SIGINT", shutdown);
    process.off("SIGTERM", shutdown);
    // Configuration and start-up problems: one line, no stack trace.
    console.error(`Error: ${oneLine(error)}`);
    return 1;
  }
  if (signalled !== undefined) stopAndExit(running);
  return undefined;
}

/**
 * `key`: the config's `nodeKeyFile` is created when missing (never overwritten), then the facts a
 * provider registers are printed: the ENR (built as the running node builds it, when its
 * addresses are known before it starts) and the add-node command that takes it.
 */
async function key(file: string): Promise<number> {
  try {
    const config = await loadConfig(file);
    const { privateKey, created } = await createNodeKey(config.nodeKeyFile);
    const { nodeIdFromPrivateKey } = await import("@status/mailserver-sdk");
    const { privateKeyFromRaw } = await import("@libp2p/crypto/keys");
    const { plannedAddresses, sequencedEnr } = await import("./enr.js");
    const addresses = plannedAddresses(config);
    // The sequence number the node will publish this record with (saved only by the running node).
    const enr = addresses === undefined ? undefined : (await sequencedEnr(privateKey, config, addresses))?.enr;
    console.log(`node key  ${config.nodeKeyFile} (${created ? "new: keep it secret, it is the node's identity" : "existing"})`);
    console.log(`peer id   ${privateKeyFromRaw(privateKey).publicKey.toString()}`);
    console.log(`node id   ${nodeIdFromPrivateKey(privateKey)}`);
    if (enr === undefined) {
      const why = config.discovery === undefined ? "add discovery (ip, udpPort) to the config" : "set announce to the addresses clients dial (listen binds every interface or port 0)";
      console.log(`enr       none yet: ${why}, or register the enr of the node's serving log line`);
      return 0;
    }
    console.log(`enr       ${enr}`);
    console.log(`register  npx hardhat provider add-node --enr ${enr} --key-file ${config.nodeKeyFile} --price <SNT per month> --network <name>`);
    return 0;
  } catch (error) {
    console.error(`Error: ${oneLine(error)}`);
    return 1;
  }
}
