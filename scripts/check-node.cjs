// `npm install` / `npm ci` preinstall check: stop at once, with one line, when npm runs under a
// Node.js older than Hardhat 3 needs (under such a Node, npm also skips Hardhat's native binding
// and every command fails later with a stack of advice). Plain old JavaScript on purpose: it
// must run on the old Node it rejects.
"use strict";
var execFileSync = require("child_process").execFileSync;

var REQUIRED = [22, 13, 0];

// npm puts node_modules/.bin first on PATH, where the project's own Node 22 may already sit:
// what matters is the Node that runs npm.
function npmNodeVersion() {
  var npmNode = process.env.npm_node_execpath;
  if (npmNode && npmNode !== process.execPath) {
    try {
      return execFileSync(npmNode, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
    } catch (error) {
      // Fall back to this process's version.
    }
  }
  return process.versions.node;
}

var version = npmNodeVersion();
var parts = version.split(".").map(Number);
var tooOld = false;
for (var i = 0; i < REQUIRED.length; i++) {
  if ((parts[i] || 0) > REQUIRED[i]) break;
  if ((parts[i] || 0) < REQUIRED[i]) {
    tooOld = true;
    break;
  }
}
if (tooOld) {
  console.error("This project needs Node.js >= " + REQUIRED.join(".") + " (npm runs on v" + version + "): run `npx -p node@22 -- npm ci` instead.");
  process.exit(1);
}
