// Only the page part of the bench (bench/page.ts): `npm run build && npx hardhat run bench/pageOnly.ts`.
// `npm run bench` runs it with the rest into results.json.
import { measurePage } from "./page.js";

const { rows, notes } = await measurePage();
for (const row of rows) console.log(`${row.measure.padEnd(72)} ${row.value.toFixed(1).padStart(8)} ${row.baseline === undefined ? "" : row.baseline.toFixed(1).padStart(8)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
for (const note of notes) console.log(`  - ${note}`);
