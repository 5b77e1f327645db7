// `mailserver-node --config <file>`: runs the mail server until SIGINT/SIGTERM.
import { ConfigError, loadConfig } from "./config.js";
import { readNodeKey } from "./keyFile.js";
import { jsonLogger } from "./log.js";

const USAGE = "usage: mailserver-node --config <file.json>";

/** Runs the CLI; resolves to an exit code for errors before the server runs. */
export async function main(argv: readonly string[]): Promise<number | undefined> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const at = argv.indexOf("--config");
  const file = at >= 0 ? argv[at + 1] : undefined;
  const extra = argv.filter((_arg, i) => i !== at && i !== at + 1);
  if (file === undefined || file.startsWith("--") || extra.length > 0) {
    console.error(`Error: ${extra.length > 0 ? `unknown argument ${extra[0]}; ` : ""}${USAGE}`);
    return 2;
  }
  let running;
  let logger;
  try {
    const config = await loadConfig(file);
    logger = jsonLogger(config.logLevel);
    const privateKey = await readNodeKey(config.nodeKeyFile);
    // The node's stack loads only once the configuration is known to be good: errors come fast.
    const { startServer } = await import("./app.js");
    running = await startServer(config, logger, { privateKey });
  } catch (error) {
    // Configuration and start-up problems: one line, no stack trace.
    const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    console.error(`Error: ${message.split("\n")[0]}`);
    return 1;
  }
  const server = running;
  const log = logger;
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    if (++signals > 1) return;
    log.log("info", "shutting-down", { signal });
    server.stop().then(
      () => {
        log.log("info", "shutdown-complete", {});
        process.exit(0);
      },
      (error: unknown) => {
        log.log("error", "shutdown-failed", { error: String(error) });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  return undefined;
}
