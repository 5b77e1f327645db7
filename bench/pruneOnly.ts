// Only the retention part of the bench (bench/prune.ts): `npm run build -w @status/mailserver-node
// && npx hardhat run bench/pruneOnly.ts`. `npm run bench` runs it with the rest into results.json.
import { measurePrune } from "./prune.js";

const { rows, notes } = await measurePrune();
for (const row of rows) console.log(`${row.measure.padEnd(60)} ${row.value.toPrecision(4).padStart(8)} ${row.baseline === undefined ? "" : row.baseline.toPrecision(4).padStart(8)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
for (const note of notes) console.log(`  - ${note}`);
