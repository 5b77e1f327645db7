// `mailserver-probe --config <file>`: measures the registry's mail servers every round until
// SIGINT/SIGTERM; `--once` runs one round, prints its reports and exits.
// `mailserver-probe key --config <file>`: makes the probe's node key (once) and prints its node id.
import { oneLine, readCommandLine } from "../commandLine.js";
import { createNodeKey, readNodeKey } from "../keyFile.js";
import { jsonLogger, type Logger } from "../log.js";
import { loadProbeConfig } from "./config.js";
import type { RunningProbe } from "./run.js";

const USAGE = [
  "usage: mailserver-probe --config <file.json>          measure the registry's mail servers every round, publish signed reports",
  "       mailserver-probe --config <file.json> --once   run one round, print its signed reports, exit",
  "       mailserver-probe key --config <file.json>      make the probe's node key (once); print its node id",
].join("\n");

const SHUTDOWN_DEADLINE_MS = 30_000;

/** Runs the CLI; resolves to an exit code when it ends by itself. */
export async function main(argv: readonly string[]): Promise<number | undefined> {
  const line = readCommandLine(argv, USAGE, ["--once"]);
  if (typeof line === "number") return line;
  const { command, file } = line;
  const once = line.flags.has("--once");
  if (command === "key") return key(file);

  let running: RunningProbe | undefined;
  let logger: Logger | undefined;
  let signalled = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    logger?.log("info", "shutting-down", { signal });
    setTimeout(() => {
      logger?.log("error", "shutdown-timeout", { afterMs: SHUTDOWN_DEADLINE_MS });
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    if (running === undefined) process.exit(1);
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  try {
    const config = await loadProbeConfig(file);
    logger = jsonLogger(config.logLevel);
    const privateKey = await readNodeKey(config.nodeKeyFile);
    const { startProbe } = await import("./run.js");
    running = await startProbe(config, logger, { privateKey, schedule: !once });
  } catch (error) {
    process.off("SIGINT", shutdown);
    process.off("SIGTERM", shutdown);
    console.error(`Error: ${oneLine(error)}`);
    return 1;
  }
  if (!once) return undefined;
  try {
    const round = await running.runRound();
    for (const report of round.reports) console.log(JSON.stringify(report));
    return round.pushedReports === round.reports.length ? 0 : 1;
  } catch (error) {
    console.error(`Error: ${oneLine(error)}`);
    return 1;
  } finally {
    await running.stop();
    process.off("SIGINT", shutdown);
    process.off("SIGTERM", shutdown);
  }
}

/** `key`: the config's `nodeKeyFile` is created when missing (never overwritten); its node id is printed with the command that registers it. */
async function key(file: string): Promise<number> {
  try {
    const config = await loadProbeConfig(file);
    const { privateKey, created } = await createNodeKey(config.nodeKeyFile);
    const { nodeIdFromPrivateKey } = await import("@status/mailserver-sdk");
    console.log(`node key  ${config.nodeKeyFile} (${created ? "new: keep it secret, it signs the probe's reports" : "existing"})`);
    console.log(`node id   ${nodeIdFromPrivateKey(privateKey)}`);
    console.log(`register  npx hardhat provider add-probe --key-file ${config.nodeKeyFile} --record <where reports are served, e.g. https://probe.example/reports> --network <name>`);
    return 0;
  } catch (error) {
    console.error(`Error: ${oneLine(error)}`);
    return 1;
  }
}
