/**
 * `npm run demo`: the whole story on the in-process chain, nothing else to install.
 * `npm run demo -- --network localhost` tells it against a separately started `npx hardhat node`.
 */
import { network } from "hardhat";
import { runDemo } from "./demo/story.js";

try {
  const connection = await network.getOrCreate();
  await runDemo({ connection });
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
