// Only the Store Resume part of the bench (bench/resume.ts): `npm run build -w @status/mailserver-node
// && npx hardhat run bench/resumeOnly.ts`. `npm run bench` runs it with the rest into results.json.
import { measureResume } from "./resume.js";

const { rows, notes } = await measureResume();
for (const row of rows) console.log(`${row.measure.padEnd(64)} ${row.value.toPrecision(3).padStart(7)} ${row.baseline === undefined ? "" : row.baseline.toPrecision(3).padStart(7)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
for (const note of notes) console.log(`  - ${note}`);
