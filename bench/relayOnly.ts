// Only the relay part of the bench (bench/relay.ts): `npm run build -w @status/mailserver-node &&
// npx hardhat run bench/relayOnly.ts`. `npm run bench` runs it with the rest into results.json.
import { measureRelay } from "./relay.js";

const { rows, notes } = await measureRelay();
for (const row of rows) console.log(`${row.measure.padEnd(64)} ${row.value.toPrecision(4).padStart(8)} ${row.baseline === undefined ? "" : row.baseline.toPrecision(4).padStart(8)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
for (const note of notes) console.log(`  - ${note}`);
