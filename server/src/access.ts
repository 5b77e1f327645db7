// Our access protocol: on the same connection as its store queries, a client presents an access
// grant (signed by its client key, bound to this node and to the connection's peer id). The gate
// remembers the peer until the grant or the subscription ends; store queries then ask it in O(1).

import { ACCESS_PROTOCOL, decodeAccessGrant, type AccessGrant } from "@status/mailserver-sdk";
import type { GateModeChange } from "@status/mailserver-sdk/server";
import type { Logger } from "./log.js";

/**
 * Protocol id of the access protocol (one grant in, one decision out, per stream).
 * @deprecated use `ACCESS_PROTOCOL` of `@status/mailserver-sdk`: the same id, one name.
 */
export const ACCESS_CODEC = ACCESS_PROTOCOL;

/**
 * The gate's `onModeChange` for the server's log: `gate-mode` at warn when the gate stops
 * deciding from a current index (stale: contract reads, else the last good index within the
 * grace; degraded: contract reads only), at info when it is current again.
 */
export function logGateMode(logger: Logger): (change: GateModeChange) => void {
  return (change) =>
    logger.log(change.mode === "fresh" ? "info" : "warn", "gate-mode", {
      mode: change.mode,
      previous: change.previous,
      staleForSeconds: change.staleForSeconds ?? null,
      message: change.message,
    });
}

/** The gate as the server uses it: the grant API of the SDK's `AccessGate`. */
export interface GrantGate {
  /** Verifies a grant for the connection's peer and remembers it when accepted. Never throws. */
  presentGrant(grant: AccessGrant, ctx: { connectionPeerId: string }): Promise<GrantAnswer>;
  /** O(1): a live grant and an active subscription now. */
  checkPeer(peerId: string): { allowed: true; clientId: string } | { allowed: false; reason: string };
  forgetPeer(peerId: string): void;
}

export type GrantAnswer = { accepted: true; clientId: string; until: number } | { accepted: false; reason: string };

/** Decodes a grant from the wire and presents it; undecodable bytes are refused as "malformed". */
export async function presentEncodedGrant(gate: GrantGate, bytes: Uint8Array, ctx: { connectionPeerId: string }): Promise<GrantAnswer> {
  let grant: AccessGrant;
  try {
    grant = decodeAccessGrant(bytes);
  } catch {
    return { accepted: false, reason: "malformed" };
  }
  return gate.presentGrant(grant, ctx);
}

/** The response on the wire: UTF-8 JSON, small and readable in logs. */
export function encodeGrantAnswer(answer: GrantAnswer): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(answer));
}
