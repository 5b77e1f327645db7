// The command line both CLIs share (`mailserver-node`, `mailserver-probe`):
// `[key] --config <file> [flags]`, and errors printed as one line.
import { ConfigError } from "./config.js";

export type CommandLine =
  | { kind: "help" }
  /** `unknown`: the first unknown argument, if that is what is wrong. */
  | { kind: "usage"; unknown?: string }
  | { kind: "command"; command: "run" | "key"; file: string; flags: ReadonlySet<string> };

/** Parses `argv`; `runFlags` are the flags the run command takes (the key command takes none). */
export function parseCommandLine(argv: readonly string[], runFlags: readonly string[] = []): CommandLine {
  if (argv.includes("--help") || argv.includes("-h")) return { kind: "help" };
  const command = argv[0] === "key" ? "key" : "run";
  const args = command === "key" ? argv.slice(1) : argv;
  const at = args.indexOf("--config");
  const file = at >= 0 ? args[at + 1] : undefined;
  const flags = new Set(command === "run" ? args.filter((arg) => runFlags.includes(arg)) : []);
  const extra = args.filter((arg, i) => i !== at && i !== at + 1 && !flags.has(arg));
  if (file === undefined || file.startsWith("--") || extra.length > 0) return { kind: "usage", ...(extra.length > 0 ? { unknown: extra[0]! } : {}) };
  return { kind: "command", command, file, flags };
}

/** What the CLI prints for a bad command line: the problem, then the usage. */
function usageError(line: { unknown?: string }, usage: string): string {
  return `Error: ${line.unknown !== undefined ? `unknown argument ${line.unknown}; ` : ""}${usage}`;
}

/**
 * The command to run, or, for `--help` (usage on stdout) and a bad command line (the problem and
 * the usage on stderr), the exit code once that is printed.
 */
export function readCommandLine(argv: readonly string[], usage: string, runFlags: readonly string[] = []): Extract<CommandLine, { kind: "command" }> | number {
  const line = parseCommandLine(argv, runFlags);
  if (line.kind === "help") {
    console.log(usage);
    return 0;
  }
  if (line.kind === "usage") {
    console.error(usageError(line, usage));
    return 2;
  }
  return line;
}

/** Runs a CLI's `main` from its bin script: its exit code, or 1 with the error's message on one line. */
export function runCli(main: (argv: readonly string[]) => Promise<number | undefined>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== undefined) process.exitCode = code;
    },
    (error: unknown) => {
      console.error(`Error: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}

/** An error as the one line a CLI prints: no stack trace. */
export function oneLine(error: unknown): string {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  return message.split("\n")[0]!;
}
