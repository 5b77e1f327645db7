// The commands the READMEs give, read from them so that tests run what a user reads.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ROOT } from "./hardhatCli.js";

/** The install command of README.md's quick start: the first line of its first code block. */
export async function readmeInstallCommand(): Promise<string> {
  const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
  const quickStart = readme.slice(readme.indexOf("## Quick start"));
  const command = /```sh\n([^\n]+)\n/.exec(quickStart)?.[1];
  if (command === undefined) throw new Error("README.md's quick start has no code block");
  return command;
}
