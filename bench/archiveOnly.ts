// Only the archive part of the bench (bench/archive.ts): `npm run build -w @status/mailserver-node
// && npx hardhat run bench/archiveOnly.ts` (BENCH_ARCHIVE_MESSAGES sets the size, default
// 1,000,000). `npm run bench` runs it with the rest into results.json.
import { archiveTable, measureArchive } from "./archive.js";

const count = Number(process.env.BENCH_ARCHIVE_MESSAGES ?? 1_000_000);
const { rows, notes } = await measureArchive(count);
console.log(archiveTable(rows, count));
for (const note of notes) console.log(`  - ${note}`);
