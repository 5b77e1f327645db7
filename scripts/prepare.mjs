// `prepare` (after `npm ci` / `npm install`): build the contracts, the SDK and the mail server, so
// that `npx hardhat curator ...` and `npx mailserver-node` work right after the install. Skipped
// when the dependencies are not installed (`npm install --package-lock-only`, which runs
// `prepare` too): there is nothing to build with.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

if (!existsSync("node_modules/.bin/hardhat")) {
  console.log("prepare: dependencies not installed, nothing to build");
} else {
  const build = spawnSync("npm", ["run", "build"], { stdio: "inherit" });
  process.exitCode = build.status ?? 1;
}
