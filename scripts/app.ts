/**
 * `npm run app`: the mail-server web page against a local chain. Starts a `hardhat node` on a
 * free port, deploys, registers three mail servers and runs them (the reference server, each
 * serving its signed offer over HTTP) with a registered quality probe measuring them, funds a test
 * account, serves the page with Vite and prints its URL. Ctrl-C stops everything.
 */
import { HDNodeWallet, Mnemonic, formatUnits } from "ethers";
import { network } from "hardhat";
import { startHardhatNode, type LocalNode } from "../test/helpers/hardhatCli.js";
import { setupAppChain } from "./app/chain.js";
import { startAppServer, type AppServer } from "./app/serve.js";
import { startAppMailServers, type AppMailServers } from "./app/servers.js";

// Hardhat's well-known test mnemonic: its keys hold nothing anywhere but on local chains.
const HARDHAT_MNEMONIC = "test test test test test test test test test test test junk";

let node: LocalNode | undefined;
let server: AppServer | undefined;
let mailServers: AppMailServers | undefined;

async function stop(code: number): Promise<never> {
  await server?.close().catch(() => undefined);
  await mailServers?.stop().catch(() => undefined);
  await node?.stop().catch(() => undefined);
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void stop(0));

try {
  console.log("Starting a hardhat node…");
  node = await startHardhatNode();
  const connection = await network.create({ network: "localhost", override: { url: node.url } });
  console.log("Deploying and registering three mail servers…");
  const chain = await setupAppChain(connection, node.url);
  console.log("Starting the three mail servers (their signed offers over HTTP) and a quality probe…");
  mailServers = await startAppMailServers(chain, connection, node.url);
  const quality = mailServers.reportsUrl === undefined ? {} : { quality: { reportUrls: [mailServers.reportsUrl] } };
  server = await startAppServer({ ...chain.config, offerUrls: mailServers.offerUrls, ...quality }, process.env.APP_MODE === "preview" ? "preview" : "dev");
  const user = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(HARDHAT_MNEMONIC), "m/44'/60'/0'/0/1");
  console.log(`
The mail-server page: ${server.url}

  chain        ${chain.config.chainName}, id ${chain.config.chainId}, RPC ${node.url}
  registry     ${chain.config.addresses.registry}
  escrow       ${chain.config.addresses.escrow}
  token (SNT)  ${chain.config.addresses.token}
  servers      ${chain.servers.map((s) => `${s.name} ${formatUnits(s.pricePerMonth, 18)} SNT/month`).join(", ")}
  offers       ${Object.values(mailServers.offerUrls).join(", ")}
  probe        ${mailServers.reportsUrl ?? "no reports URL"} (a round a minute; reload the page for new figures)

In your wallet, add the network above and import the funded test account
${chain.user} (${formatUnits(chain.userBalance, 18)} SNT), key ${user.privateKey}
(a public test key: never send anything of value to it).

Ctrl-C stops the page, the mail servers, the probe and the node.`);
  await new Promise(() => undefined); // until a signal
} catch (error) {
  console.error(`app failed: ${error instanceof Error ? error.message : String(error)}`);
  await stop(1);
}
