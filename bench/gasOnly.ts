/**
 * `npm run bench:gas`: the gas table of `npm run bench` alone (no SDK, bundle or server runs),
 * for working on the contracts. A benchmark, not a test: nothing here fails on gas.
 */
import { network } from "hardhat";
import { bucketModel, bucketTable, gasTable, measureGas } from "./gas.js";

const connection = await network.create();
const rows = await measureGas(connection);
console.log(gasTable(rows));
console.log(`\nExpiry buckets, day-wide vs week-wide (model priced with the rows above)\n`);
console.log(bucketTable(bucketModel(rows)));
await connection.close();
