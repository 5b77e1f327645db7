// Providers: apply, register a node with a proof of its key, set the price, withdraw earnings.
import type { Signer } from "ethers";
import { ProviderClient, SubscriptionClient, buildNodeEnr, type DeploymentOverrides } from "@status/mailserver-sdk";

export async function applyExample(account: Signer, addresses: DeploymentOverrides) {
  // README:start apply
  const provider = new ProviderClient({ runner: account, addresses });
  await provider.applyAsProvider({ name: "Acme Mail", metadataURI: "https://acme.example/provider.json" });
  // ... pending until a curator approves (npx hardhat curator approve <address>)
  // README:end apply
}

export async function operateExample(account: Signer, addresses: DeploymentOverrides, nodeKey: string) {
  // README:start operate
  const provider = new ProviderClient({ runner: account, addresses });
  // The node's ENR, signed by its key and tagged as a mail server so discovery finds it.
  const { enr } = buildNodeEnr({ privateKey: nodeKey, ip: "127.0.0.1", udp: 30303, tcp: 30303 });
  const { nodeId } = await provider.addNode({ nodeKey, record: enr, pricePerMonth: 25n * 10n ** 18n }); // proof signed here
  await provider.setNodePrice(nodeId, 30n * 10n ** 18n); // existing subscriptions keep their price

  const escrow = new SubscriptionClient({ runner: account, addresses });
  const { withdrawable } = await escrow.nodeEarnings(nodeId);
  if (withdrawable > 0n) await escrow.withdraw(nodeId); // to the payout address
  // README:end operate
  return nodeId;
}
