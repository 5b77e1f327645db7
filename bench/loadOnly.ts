// Only the subscriber-under-load part of the bench (bench/load.ts): `npm run build && npx hardhat
// run bench/loadOnly.ts` (BENCH_FREE_CLIENTS sets the free clients, default 200). `npm run bench`
// runs it too, in a process of its own (the subscriber's latency is measured from this side, and
// the other parts' heap would otherwise be collected during it), with BENCH_JSON=1 so that it
// prints its rows as one JSON line.
import { measureLoad } from "./load.js";

const { rows, notes } = await measureLoad();
if (process.env.BENCH_JSON === "1") console.log(`BENCH ${JSON.stringify({ rows, notes })}`);
else {
  for (const row of rows) console.log(`${row.measure.padEnd(64)} ${row.value.toPrecision(4).padStart(8)} ${row.baseline === undefined ? "" : row.baseline.toPrecision(4).padStart(8)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
  for (const note of notes) console.log(`  - ${note}`);
}
