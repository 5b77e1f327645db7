// `npm run bench:server`: only the mail-server part of the bench (bench/server.ts), for working on
// the server without running the gas and SDK parts.
import { measureServer } from "./server.js";

const { rows, notes } = await measureServer();
for (const row of rows) console.log(`${row.measure.padEnd(48)} ${row.value.toPrecision(3).padStart(7)} ${row.baseline === undefined ? "" : row.baseline.toPrecision(3).padStart(7)} ${row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`} ${row.unit}`);
for (const note of notes) console.log(`  - ${note}`);
