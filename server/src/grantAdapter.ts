// TEMPORARY ADAPTER (until the SDK's access grants, sdk/src/gate/grant.ts, land on main): the
// GrantGate of the server on top of the SDK's existing per-request gate. A "grant" here is a
// SignedRequest (JSON) over the fixed digest GRANT_DIGEST, bound to node, peer and time by
// `AccessGate.check`; it lives for GRANT_TTL_SECONDS and never beyond the subscription.
// Replace with `AccessGate.presentGrant` / `checkPeer` / `forgetPeer` and delete this file.
import { requestDigestOf, type SignedRequest } from "@status/mailserver-sdk";
import { AccessGate, type SubscriptionLookup } from "@status/mailserver-sdk/server";
import type { GrantAnswer, GrantGate } from "./access.js";

export const GRANT_DIGEST = requestDigestOf("mailserver-access-grant");
export const GRANT_TTL_SECONDS = 86_400;

export interface AdapterOptions {
  nodeId: string;
  chainId: bigint | number;
  escrow: string;
  index: SubscriptionLookup;
  now?: () => number;
}

export class RequestGrantGate implements GrantGate {
  readonly #gate: AccessGate;
  readonly #index: SubscriptionLookup;
  readonly #nodeId: string;
  readonly #now: () => number;
  readonly #peers = new Map<string, { clientId: string; until: number }>();

  constructor(options: AdapterOptions) {
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.#gate = new AccessGate({ nodeId: options.nodeId, chainId: options.chainId, escrow: options.escrow, index: options.index, now: this.#now });
    this.#index = options.index;
    this.#nodeId = this.#gate.nodeId;
  }

  async presentEncodedGrant(bytes: Uint8Array, ctx: { connectionPeerId: string }): Promise<GrantAnswer> {
    let request: SignedRequest;
    try {
      request = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as SignedRequest;
    } catch {
      return { accepted: false, reason: "malformed" };
    }
    let decision;
    try {
      decision = await this.#gate.check(request, { connectionPeerId: ctx.connectionPeerId, requestDigest: GRANT_DIGEST });
    } catch {
      return { accepted: false, reason: "unavailable" };
    }
    if (!decision.allowed || decision.clientId === undefined || decision.expiresAt === undefined) return { accepted: false, reason: decision.reason };
    const until = Math.min(request.issuedAt + GRANT_TTL_SECONDS, Math.floor(decision.expiresAt.getTime() / 1000));
    this.#peers.set(ctx.connectionPeerId, { clientId: decision.clientId, until });
    return { accepted: true, clientId: decision.clientId, until };
  }

  checkPeer(peerId: string): { allowed: true; clientId: string } | { allowed: false; reason: string } {
    const grant = this.#peers.get(peerId);
    if (grant === undefined) return { allowed: false, reason: "no-grant" };
    const now = this.#now();
    if (grant.until <= now) return { allowed: false, reason: "grant-expired" };
    // The subscription may have been cancelled since the grant was presented.
    const expiry = this.#index.expiryOf(this.#nodeId, grant.clientId);
    if (expiry === 0n) return { allowed: false, reason: "no-subscription" };
    if (expiry <= BigInt(now)) return { allowed: false, reason: "expired" };
    return { allowed: true, clientId: grant.clientId };
  }

  forgetPeer(peerId: string): void {
    this.#peers.delete(peerId);
  }
}
