// Server operators: admit or refuse a peer's signed request, from an index of the escrow's events.
import type { Provider, Signer } from "ethers";
import { decodeAccessGrant, encodeAccessGrant, requestDigestOf, signAccessGrant, type SignedRequest } from "@status/mailserver-sdk";
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

// Server operators: one access grant per connection, then a lookup per request.
export async function grantExample(
  provider: Provider, chainId: bigint, escrow: string, nodeId: string, indexDb: string,
  clientKey: Signer, connectionPeerId: string,
) {
  // README:start grants
  // Client, once per connection: sign a grant for the peer id of that connection (24 h at most).
  const grant = await signAccessGrant(clientKey, { chainId, escrow }, { nodeId, peerId: connectionPeerId });
  const wire = encodeAccessGrant(grant); // send it as the connection's first message

  // Server: an index in SQLite (WAL), followed every 12 s; errors go to console.error.
  const index = await SubscriptionIndex.open(indexDb, { provider, chainId, escrow, nodeIds: [nodeId] });
  index.start(12_000);
  const gate = new AccessGate({ nodeId, escrow, chainId, index });
  const accepted = await gate.presentGrant(decodeAccessGrant(wire), { connectionPeerId });
  if (!accepted.accepted) console.log(`grant refused: ${accepted.reason}`); // malformed, wrong-node, peer-mismatch, grant-expired, ...
  // Every request on that connection: synchronous, no RPC.
  const decision = gate.checkPeer(connectionPeerId); // allowed, or no-grant, grant-expired, no-subscription, expired, unavailable
  gate.forgetPeer(connectionPeerId); // on disconnect
  await index.close();
  // README:end
  return decision;
}
