// How often the invariant fuzzer ran each handler action of the escrow's invariant suites, and how
// often the action went through (a handler action that did nothing reverts, so
// `calls - reverts` counts the actions that changed something; for the wrongRecord* actions it
// counts the stale or forged records that were refused as they must be).
//
//   npx hardhat run test/solidity/invariantMetrics.ts
//   MAILSERVER_TEST_PROFILE=deep npx hardhat run test/solidity/invariantMetrics.ts
//
// Hardhat's reporter prints only the number of runs; the metrics come from the same run's results.
import hre from "hardhat";

interface Metrics {
  calls: bigint;
  reverts: bigint;
  discards: bigint;
}
interface TestResult {
  name: string;
  status: string;
  kind: { runs?: bigint; calls?: bigint; reverts?: bigint; metrics?: Record<string, Metrics> };
}
interface SuiteResult {
  id: { name: string };
  testResults: TestResult[];
}

const run = (await hre.tasks.getTask(["test", "solidity"]).run({
  testFiles: ["test/solidity/EscrowInvariant.t.sol"],
})) as { success: boolean; value?: { suiteResults: SuiteResult[] }; error?: { suiteResults: SuiteResult[] } };
const suites = (run.value ?? run.error)?.suiteResults ?? [];

for (const suite of suites) {
  // Every invariant of a suite gets its own campaign; sum them for the suite's totals.
  const total = new Map<string, { calls: bigint; reverts: bigint }>();
  let campaigns = 0;
  for (const test of suite.testResults) {
    if (test.kind.metrics === undefined) continue;
    ++campaigns;
    for (const [action, m] of Object.entries(test.kind.metrics)) {
      const name = action.replace(/^.*\./, "");
      const t = total.get(name) ?? { calls: 0n, reverts: 0n };
      t.calls += m.calls;
      t.reverts += m.reverts;
      total.set(name, t);
    }
  }
  if (campaigns === 0) continue;
  console.log(`\n${suite.id.name}: ${campaigns} invariant campaigns`);
  console.log(`${"action".padEnd(34)}${"calls".padStart(8)}${"went through".padStart(14)}`);
  for (const [name, t] of [...total.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`${name.padEnd(34)}${String(t.calls).padStart(8)}${String(t.calls - t.reverts).padStart(14)}`);
  }
}
if (!run.success) process.exitCode = 1;
