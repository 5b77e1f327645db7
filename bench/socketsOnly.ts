// Only the idle-sockets part of the bench (bench/sockets.ts): `npm run build -w @status/mailserver-node
// && npx hardhat run bench/socketsOnly.ts`. `npm run bench` runs it with the rest into results.json.
import { measureSockets, socketsTable } from "./sockets.js";

const { rows, notes } = await measureSockets();
console.log(socketsTable(rows));
for (const note of notes) console.log(`  - ${note}`);
