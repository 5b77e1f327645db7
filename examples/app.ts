// App developers: verify discovered nodes, pick a trusted one, subscribe, read the status.
// README.md shows the part between the README markers; test/mocha/examples.test.ts runs it.
import type { Provider, Signer } from "ethers";
import { RegistryClient, SubscriptionClient, TrustPolicy, verifyNodes, type DeploymentOverrides } from "@status/mailserver-sdk";

export async function appExample(provider: Provider, wallet: Signer, addresses: DeploymentOverrides, discoveredEnrs: string[], clientKey: Signer) {
  // README:start
  const registry = new RegistryClient({ runner: provider, addresses });
  const policy = new TrustPolicy(); // trusts the registry's default provider out of the box
  const verified = await verifyNodes(registry, discoveredEnrs, { policy, kind: "mailserver" }); // one batched call
  const node = verified.find((v) => v.status === "trusted" && !v.endpointMismatch);
  if (node === undefined) throw new Error("no trusted mail server found");

  const subscriptions = new SubscriptionClient({ runner: wallet, addresses });
  const clientId = await clientKey.getAddress(); // the chat key that signs requests
  const quote = await subscriptions.quote(node.nodeId!, 2); // price, total, expiry, cancellation fee
  // The chat key signs its consent to the wallet owning the subscription (nobody else can take it).
  const bought = await subscriptions.subscribe({ nodeId: node.nodeId!, clientId, clientKey, months: 2, maxPricePerMonth: quote.pricePerMonth });
  const status = await subscriptions.status(node.nodeId!, clientId, bought.subscription); // the record: no event scan
  console.log(`${bought.path}: active until ${status.expiresAt.toISOString()}, ${status.monthsLeft} months left`);
  // README:end
  return { verified, bought, status };
}
