// Our access protocol: on the same connection as its store queries, a client presents an access
// grant (signed by its client key, bound to this node and to the connection's peer id). The gate
// remembers the peer until the grant or the subscription ends; store queries then ask it in O(1).

/** Protocol id of the access protocol (one grant in, one decision out, per stream). */
export const ACCESS_CODEC = "/status/mailserver/access/1.0.0";

/** The gate as the server uses it (the SDK's `AccessGate` grant API). */
export interface GrantGate {
  /** Verifies an encoded grant for the connection's peer and remembers it when accepted. Never throws. */
  presentEncodedGrant(bytes: Uint8Array, ctx: { connectionPeerId: string }): Promise<GrantAnswer>;
  checkPeer(peerId: string): { allowed: true; clientId: string } | { allowed: false; reason: string };
  forgetPeer(peerId: string): void;
}

export type GrantAnswer = { accepted: true; clientId: string; until: number } | { accepted: false; reason: string };

/** The response on the wire: UTF-8 JSON, small and readable in logs. */
export function encodeGrantAnswer(answer: GrantAnswer): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(answer));
}
