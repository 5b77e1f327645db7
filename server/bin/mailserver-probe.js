#!/usr/bin/env node
// `npx mailserver-probe --config <file>`: see server/README.md ("Quality probe").
import { main } from "../dist/probe/cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error) => {
    console.error(`Error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
