// The local chain the web page runs against: the real deployment (deploy/local.ts), three
// registered mail servers of two providers, and a test account holding SNT.
import { Wallet, parseUnits } from "ethers";
import type { NetworkConnection } from "hardhat/types/network";
import { CuratorClient, ProviderClient, SubscriptionClient, buildNodeEnr } from "@status/mailserver-sdk";
import { deployLocal } from "../../deploy/local.js";
import type { AppConfig } from "../../app/src/config.js";


export interface AppChain {
  config: AppConfig;
  /** The funded test account (a hardhat node account: unlocked, so the node signs for it). */
  user: string;
  userBalance: bigint;
  /** `nodeKey`: the node's private key, so a test can run the real server behind the registered id. */
  servers: { name: string; nodeId: string; provider: string; pricePerMonth: bigint; nodeKey: string }[];
  /** The providers' accounts (unlocked on the node): they can change prices. */
  providers: { status: string; acme: string };
}

const DECIMALS = 18;
const snt = (amount: string) => parseUnits(amount, DECIMALS);

/**
 * Deploys and registers on `connection` (a `hardhat node` reached over HTTP, whose first accounts
 * are unlocked): account 0 is the default provider "Status" (two servers, 5% cancellation fee),
 * account 2 the approved provider "Acme Mail" (one server), account 1 the user with `userBalance`.
 */
export async function setupAppChain(connection: NetworkConnection, rpcUrl: string, userBalance = snt("100")): Promise<AppChain> {
  const { ethers } = connection;
  const [status, user, acme] = await ethers.getSigners();
  const { chainId, addresses } = await deployLocal(connection);

  const statusProvider = new ProviderClient({ runner: status!, addresses });
  const acmeProvider = new ProviderClient({ runner: acme!, addresses });
  await acmeProvider.applyAsProvider({ name: "Acme Mail", metadataURI: "https://acme.example" });
  await new CuratorClient({ runner: status!, addresses }).approveProvider(acme!.address);
  await new SubscriptionClient({ runner: status!, addresses }).setCancellationFee(500);

  const plan = [
    { name: "status-mail-1", by: statusProvider, provider: status!.address, price: snt("25"), port: 30401 },
    { name: "status-mail-2", by: statusProvider, provider: status!.address, price: snt("20"), port: 30402 },
    { name: "acme-mail-1", by: acmeProvider, provider: acme!.address, price: snt("15"), port: 30403 },
  ];
  const servers: AppChain["servers"] = [];
  for (const server of plan) {
    const key = Wallet.createRandom().privateKey;
    const { enr } = buildNodeEnr({ privateKey: key, ip: "127.0.0.1", udp: server.port, tcp: server.port });
    const added = await server.by.addNode({ nodeKey: key, record: enr, pricePerMonth: server.price });
    servers.push({ name: server.name, nodeId: added.nodeId, provider: server.provider, pricePerMonth: server.price, nodeKey: key });
  }

  const token = await ethers.getContractAt("SNTLikeToken", addresses.token);
  await (await token.generateTokens(user!.address, userBalance)).wait();

  return {
    config: { chainId: Number(chainId), chainName: "Hardhat (local)", rpcUrl, addresses, token: { symbol: "SNT", decimals: DECIMALS } },
    user: user!.address,
    userBalance,
    servers,
    providers: { status: status!.address, acme: acme!.address },
  };
}
