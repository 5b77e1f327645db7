/**
 * `npm run bench:gas`: the gas table of `npm run bench` alone (no SDK, bundle or server runs),
 * for working on the contracts. A benchmark, not a test: nothing here fails on gas.
 */
import { network } from "hardhat";
import { gasTable, measureGas } from "./gas.js";

const connection = await network.create();
console.log(gasTable(await measureGas(connection)));
await connection.close();
