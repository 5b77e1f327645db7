#!/usr/bin/env node
// `npx mailserver-node --config <file>`: see server/README.md.
import { main } from "../dist/cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error) => {
    console.error(`Error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
