// libp2p's debug logs, only when asked for. libp2p makes a logger for every connection and every
// stream it opens, and its default one creates several `debug` instances each time, each asking
// whether stderr is a terminal (a system call). Under 200 free @waku/sdk clients that was 2% of
// the node's CPU on its one event loop, spent on logs nobody reads (the node's own logs are
// structured, see log.ts). So unless DEBUG names something, libp2p gets loggers that do nothing.
import type { ComponentLogger, Logger } from "@libp2p/interface";

const silent: Logger = Object.assign(() => undefined, {
  enabled: false,
  error: () => undefined,
  trace: () => undefined,
  newScope: () => silent,
});

const SILENT: ComponentLogger = { forComponent: () => silent };

/** libp2p's `logger` option: undefined (libp2p's own, reading DEBUG) when `debug` names something, else silent loggers. */
export function libp2pLogger(debug: string | undefined = process.env.DEBUG): ComponentLogger | undefined {
  return debug !== undefined && debug.trim() !== "" ? undefined : SILENT;
}
