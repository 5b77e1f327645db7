// Only the quality probe part of the bench (bench/probe.ts): `npm run build -w @status/mailserver-node
// && npx hardhat run bench/probeOnly.ts`. `npm run bench` runs it with the rest into results.json.
import { measureProbe } from "./probe.js";

const { rows, notes } = await measureProbe();
for (const row of rows) console.log(`${row.measure.padEnd(100)} ${row.value.toPrecision(4).padStart(8)} ${row.baseline === undefined ? "" : row.baseline.toPrecision(4).padStart(8)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
for (const note of notes) console.log(`  - ${note}`);
