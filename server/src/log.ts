// Structured logs: one JSON object per line, `{ "t": ISO time, "level", "event", ...fields }`.

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Writes JSON lines to a stream (default stdout) at `level` and above. */
export function jsonLogger(level: LogLevel = "info", write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  return {
    log(at, event, fields = {}) {
      if (ORDER[at] < ORDER[level]) return;
      write(`${JSON.stringify({ t: new Date().toISOString(), level: at, event, ...fields }, jsonSafe)}\n`);
    },
  };
}

/** Drops every line (tests, benchmarks). */
export const silentLogger: Logger = { log() {} };

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("hex");
  return value;
}
