#!/usr/bin/env node
// `npx mailserver-node --config <file>`: see server/README.md.
import { runCli } from "../dist/commandLine.js";
import { main } from "../dist/cli.js";

runCli(main);
