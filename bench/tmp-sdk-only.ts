import { measureSdk } from "./sdk.js";
const r = await measureSdk();
for (const row of r.rows) console.log(JSON.stringify(row));
for (const n of r.notes) console.log("note:", n);
console.log(JSON.stringify(r.setup));
