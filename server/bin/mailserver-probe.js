#!/usr/bin/env node
// `npx mailserver-probe --config <file>`: see server/README.md ("Quality probe").
import { runCli } from "../dist/commandLine.js";
import { main } from "../dist/probe/cli.js";

runCli(main);
