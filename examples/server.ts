// Server operators: admit or refuse a peer's signed request, from an index of the escrow's events.
import type { Provider } from "ethers";
import { requestDigestOf, type SignedRequest } from "@status/mailserver-sdk";
import { AccessGate, SubscriptionIndex } from "@status/mailserver-sdk/server";

export async function serverExample(
  provider: Provider, chainId: bigint, escrow: string, startBlock: number, nodeId: string,
  indexFile: string, request: SignedRequest, payload: string, connectionPeerId: string,
) {
  // README:start
  // Kept current from the escrow's events; a restarted server catches up from its file.
  const index = await SubscriptionIndex.load(indexFile, { provider, chainId, escrow, startBlock, nodeIds: [nodeId], confirmations: 0 });
  await index.sync(); // or index.start(intervalMs) to follow the chain
  const gate = new AccessGate({ nodeId, escrow, chainId, index });

  // connectionPeerId: the peer id the transport authenticated, not the one the request claims.
  const decision = await gate.check(request, { connectionPeerId, requestDigest: requestDigestOf(payload) });
  if (!decision.allowed) console.log(`refused: ${decision.reason}`); // no-subscription, expired, replay, peer-mismatch, ...
  await index.save(indexFile);
  // README:end
  return decision;
}
