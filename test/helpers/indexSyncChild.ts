// Child process of the crash test: opens a SQLite index and syncs it in one-block ranges,
// printing a line per range applied, until the parent kills it (SIGKILL, mid-sync).
import { JsonRpcProvider, Network } from "ethers";
import { SubscriptionIndex } from "@status/mailserver-sdk/server";

const { url, path, chainId, escrow, startBlock } = JSON.parse(process.argv[2]!) as { url: string; path: string; chainId: string; escrow: string; startBlock: number };
const provider = new JsonRpcProvider(url, Network.from(BigInt(chainId)), { staticNetwork: true });
const index = await SubscriptionIndex.open(path, {
  provider,
  chainId: BigInt(chainId),
  escrow,
  startBlock,
  confirmations: 0,
  maxBlockRange: 1,
  onRange: (range) => process.stdout.write(`range ${range.toBlock} ${range.events}\n`),
});
await index.sync();
process.stdout.write("done\n");
await index.close();
provider.destroy();
