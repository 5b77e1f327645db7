// Only the subscriber-under-load part of the bench (bench/load.ts): `npm run build && npx hardhat
// run bench/loadOnly.ts` (BENCH_FREE_CLIENTS sets the free clients, default 200). `npm run bench`
// runs it with the rest into results.json.
import { measureLoad } from "./load.js";

const { rows, notes } = await measureLoad();
for (const row of rows) console.log(`${row.measure.padEnd(64)} ${row.value.toPrecision(4).padStart(8)} ${row.baseline === undefined ? "" : row.baseline.toPrecision(4).padStart(8)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
for (const note of notes) console.log(`  - ${note}`);
