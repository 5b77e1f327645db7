// Only the retention part of the bench (bench/prune.ts): `npm run build -w @status/mailserver-node
// && npx hardhat run bench/pruneOnly.ts`. `npm run bench` runs it too, in a process of its own (a
// fresh heap: the other parts' garbage would otherwise be collected during the prune and counted
// as its stalls), with BENCH_JSON=1 so that it prints its rows as one JSON line.
import { measurePrune } from "./prune.js";

const { rows, notes } = await measurePrune();
if (process.env.BENCH_JSON === "1") console.log(`BENCH ${JSON.stringify({ rows, notes })}`);
else {
  for (const row of rows) console.log(`${row.measure.padEnd(60)} ${row.value.toPrecision(4).padStart(8)} ${row.baseline === undefined ? "" : row.baseline.toPrecision(4).padStart(8)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
  for (const note of notes) console.log(`  - ${note}`);
}
