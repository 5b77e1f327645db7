import { requireAddress, resolveDeployment } from "../deployments.js";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId, type NodeId } from "../nodeKey.js";
import { hexBytes, splitSignature } from "../gate/bytes.js";
import { accessDomainSeparator, grantSigningDigest, MAX_GRANT_PEER_ID_BYTES, MAX_GRANT_TTL_SECONDS, type AccessGrant } from "../gate/grant.js";
import { GrantStore } from "./grantStore.js";
import type { RecoverFn } from "../gate/recovery.js";
import { nonNegativeInteger, positiveInteger } from "../core/args.js";
import { ExpiryLookup, type GateHealth, type GateModeChange, type SubscriptionLookup } from "./expiryLookup.js";
import { ReplayGuard } from "./replay.js";
import { requestSigningDigest, type SignedRequest } from "../gate/request.js";
import { MAX_CACHED, sameNodeId, SignatureVerifier } from "./signatures.js";

// The lookup interface and the health types belong to the expiry lookup; exported here too.
export type { GateHealth, GateMode, GateModeChange, SubscriptionLookup } from "./expiryLookup.js";

export type AccessReason =
  | "allowed"
  | "no-subscription"
  | "expired"
  | "wrong-node"
  | "bad-signature"
  | "peer-mismatch"
  | "replay"
  | "stale"
  | "malformed"
  | "grant-expired"
  | "not-yet-valid"
  | "no-grant"
  /** The index is not current and the contract could not be asked (RPC down, rate limit). */
  | "unavailable";

export type AccessDecision =
  | { allowed: true; reason: "allowed"; clientId: string; expiresAt?: Date }
  | { allowed: false; reason: Exclude<AccessReason, "allowed">; clientId?: string; expiresAt?: Date };

export type GrantDecision =
  | { accepted: true; clientId: string; /** Unix seconds: min(grant expiry, subscription expiry). */ until: number }
  | { accepted: false; reason: Exclude<AccessReason, "allowed"> };

export interface AccessGateOptions {
  /** This server's node id. */
  nodeId: string;
  /** The escrow the clients' requests are signed for (default: the chain's known deployment). */
  escrow?: string;
  chainId: bigint | number;
  index: SubscriptionLookup;
  /** Accepted clock difference, both ways (default 60 s); also how long nonces are kept. */
  maxSkewSeconds?: number;
  /** Admit every correctly signed request, subscribed or not (e.g. a free node). */
  freeMode?: boolean;
  /** Clock in seconds (default: this machine's). Tests pass the chain's. */
  now?: () => number;
  /**
   * How signatures are recovered: "auto" (default) uses libsecp256k1 through the optional
   * `secp256k1` package when it loads, else JavaScript; "js" always JavaScript; or a function.
   */
  signatureRecovery?: "auto" | "js" | RecoverFn;
  /**
   * While the index is not current: "contract" (default) reads the expiry from the escrow, with
   * a per-client cache and rate limits; "deny" reads nothing (the last good index answers within
   * `staleGraceSeconds`, else `unavailable`).
   */
  whenStale?: "contract" | "deny";
  /** How long a contract-read expiry is reused for the same client (default 15 s). */
  contractCacheSeconds?: number;
  /**
   * Contract reads per second for keys the index knew or the gate admitted before (default 20).
   * Beyond it the last good index answers (within the grace), else `unavailable`.
   */
  contractReadsPerSecond?: number;
  /** Deadline of one contract read while the index is not current (default 5,000 ms); then the read counts as failed. */
  contractReadTimeoutMs?: number;
  /** Contract reads per second for keys never seen before (default 2): strangers cannot spend the budget of known subscribers. */
  unknownKeyReadsPerSecond?: number;
  /** Contract reads per minute per connection peer (default 6). */
  contractReadsPerPeerPerMinute?: number;
  /**
   * While the index is not current and the contract cannot be asked (RPC down, budget spent),
   * keep admitting what the last good index knew active, for at most this long after its last
   * successful sync (default 21,600 = 6 h; 0 = never). The risk is a cancellation not yet seen,
   * bounded by this. Keys the last index did not know stay `unavailable`.
   */
  staleGraceSeconds?: number;
  /** Live grants kept (default 100,000; the oldest go first when full). */
  maxGrants?: number;
  /** Grants kept per client id (default 8: a few devices; the oldest goes). */
  maxGrantsPerClient?: number;
  /** Where failed contract reads are reported (default: console.error). Never thrown. */
  onError?: (error: MailserverSdkError) => void;
  /** Told when `health().mode` changes (default: console.warn of the message). */
  onModeChange?: (change: GateModeChange) => void;
}

export interface CheckContext {
  /** The peer id of the connection the request came on, as the transport authenticated it. */
  connectionPeerId: string;
  /** The digest the server computed from the payload it received; overrides the claimed one. */
  requestDigest?: string;
}

/**
 * Decides whether a client may be served, two ways:
 * - per connection: `presentGrant` verifies an access grant once (signature, node, peer, time
 *   window, subscription) and `checkPeer` then admits each request on that peer by a lookup
 *   (grant live, subscription active in the index now);
 * - per request (connectionless): `check` verifies a signed request: signature, node, peer,
 *   freshness, subscription, then replay.
 * No RPC per decision while the index is current; when it is not, expiries come from the
 * contract through a per-client cache and a global rate limit, or the answer is `unavailable`.
 * Nothing here throws on what a peer sends.
 */
export class AccessGate {
  readonly nodeId: NodeId;
  readonly freeMode: boolean;
  readonly #nodeIdBytes: Uint8Array;
  readonly #domainSeparator: Uint8Array;
  readonly #signatures: SignatureVerifier;
  readonly #skew: number;
  readonly #now: () => number;
  readonly #replay: ReplayGuard;
  readonly #grants: GrantStore;
  readonly #expiries: ExpiryLookup;
  #bigNowAt = -1;
  #bigNowValue = 0n;

  constructor(options: AccessGateOptions) {
    this.nodeId = normalizeNodeId(options.nodeId);
    this.#nodeIdBytes = hexBytes(this.nodeId, 32)!;
    const chainId = BigInt(options.chainId);
    const escrow = requireAddress(resolveDeployment(chainId, { escrow: options.escrow }), "escrow", chainId);
    this.#domainSeparator = accessDomainSeparator({ chainId, escrow });
    this.#signatures = new SignatureVerifier(options.signatureRecovery ?? "auto");
    this.#skew = nonNegativeInteger("maxSkewSeconds", options.maxSkewSeconds ?? 60);
    this.freeMode = options.freeMode ?? false;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.#replay = new ReplayGuard(this.#skew);
    this.#grants = new GrantStore(
      positiveInteger("maxGrants", options.maxGrants ?? 100_000),
      positiveInteger("maxGrantsPerClient", options.maxGrantsPerClient ?? 8),
    );
    this.#expiries = new ExpiryLookup({
      nodeId: this.nodeId,
      index: options.index,
      whenStale: options.whenStale ?? "contract",
      cacheSeconds: nonNegativeInteger("contractCacheSeconds", options.contractCacheSeconds ?? 15),
      budgets: {
        knownPerSecond: nonNegativeInteger("contractReadsPerSecond", options.contractReadsPerSecond ?? 20),
        unknownPerSecond: nonNegativeInteger("unknownKeyReadsPerSecond", options.unknownKeyReadsPerSecond ?? 2),
        perPeerPerMinute: nonNegativeInteger("contractReadsPerPeerPerMinute", options.contractReadsPerPeerPerMinute ?? 6),
        maxPeers: MAX_CACHED,
      },
      readTimeoutMs: positiveInteger("contractReadTimeoutMs", options.contractReadTimeoutMs ?? 5_000),
      graceSeconds: nonNegativeInteger("staleGraceSeconds", options.staleGraceSeconds ?? 21_600),
      maxCached: MAX_CACHED,
      onError: options.onError ?? ((error) => console.error(`[mailserver-sdk gate] ${error.code}: ${error.message}`)),
      onModeChange: options.onModeChange ?? ((change) => console.warn(`[mailserver-sdk gate] ${change.mode}: ${change.message}`)),
    });
  }

  /** Which signature recovery the gate uses (known after the first check with "auto"). */
  get signatureBackend(): "native" | "js" | "custom" | undefined {
    return this.#signatures.backend;
  }

  /** Nonces currently remembered (bounded by the window). */
  get rememberedNonces(): number {
    return this.#replay.size;
  }

  /** Grants currently held. */
  get liveGrants(): number {
    return this.#grants.size;
  }

  // ---- per connection ------------------------------------------------------------------------

  /**
   * Verify an access grant presented on a connection and, when it holds, remember
   * peer → (client, grant expiry). A peer presenting a new grant replaces its old one. Never
   * throws: bad input gets a reason.
   */
  async presentGrant(grant: AccessGrant, context: { connectionPeerId: string }): Promise<GrantDecision> {
    if (!isGrantShaped(grant)) return refuse("malformed");
    const digest = grantSigningDigest(grant, this.#domainSeparator);
    const signature = splitSignature(grant.signature);
    const claimed = hexBytes(grant.clientId, 20);
    if (digest === undefined || signature === undefined || claimed === undefined) return refuse("malformed");
    if (grant.expiresAt <= grant.issuedAt || grant.expiresAt - grant.issuedAt > MAX_GRANT_TTL_SECONDS) return refuse("malformed");
    if (!sameNodeId(grant.nodeId, this.#nodeIdBytes)) return refuse("wrong-node");
    if (typeof context?.connectionPeerId !== "string" || grant.peerId !== context.connectionPeerId) return refuse("peer-mismatch");
    const now = this.#now();
    if (grant.issuedAt > now + this.#skew) return refuse("not-yet-valid");
    if (grant.expiresAt <= now) return refuse("grant-expired");
    const signed = this.#signatures.signedBy(digest, signature, claimed);
    if (!(signed instanceof Promise ? await signed : signed)) return refuse("bad-signature");
    const clientId = this.#signatures.checksum(grant.clientId);

    let until = grant.expiresAt;
    if (!this.freeMode) {
      const expiry = await this.#expiries.expiryOf(clientId, now, grant.peerId);
      if (expiry === undefined) {
        this.#expiries.noteUnavailable();
        return refuse("unavailable");
      }
      if (expiry === 0n) return refuse("no-subscription");
      if (expiry <= BigInt(now)) return refuse("expired");
      if (expiry < BigInt(until)) until = Number(expiry);
      this.#expiries.remember(clientId);
    }
    this.#grants.put(grant.peerId, clientId, grant.expiresAt, now);
    return { accepted: true, clientId, until };
  }

  /**
   * May a request on this peer's connection be served? Synchronous, no RPC: the peer's grant is
   * live and its client's subscription is active in the index now (a cancellation counts as soon
   * as the index has read it). While the index is not current: the per-client contract cache, or
   * `unavailable` (a read is started for the next request).
   */
  checkPeer(peerId: string): AccessDecision {
    const grant = this.#grants.get(peerId);
    if (grant === undefined) return { allowed: false, reason: "no-grant" };
    const now = this.#now();
    if (grant.expiresAt <= now) {
      this.#grants.delete(peerId);
      return { allowed: false, reason: "grant-expired", clientId: grant.clientId };
    }
    if (this.freeMode) return { allowed: true, reason: "allowed", clientId: grant.clientId };
    const expiry = this.#expiries.expiryNow(grant.clientId, grant.clientKey, now, peerId);
    if (expiry === undefined) {
      this.#expiries.noteUnavailable();
      return deny("unavailable", grant.clientId);
    }
    if (expiry === 0n) return { allowed: false, reason: "no-subscription", clientId: grant.clientId };
    if (expiry <= this.#bigNow(now)) return { allowed: false, reason: "expired", clientId: grant.clientId };
    return { allowed: true, reason: "allowed", clientId: grant.clientId };
  }

  /** Drop the peer's grant (on disconnect). */
  forgetPeer(peerId: string): void {
    this.#grants.delete(peerId);
  }

  // ---- per request ---------------------------------------------------------------------------

  /** Decide one signed request (connectionless use). Never throws. */
  async check(request: SignedRequest, context: CheckContext): Promise<AccessDecision> {
    // 1. Signature: who is asking. Hostile input must fail here, not throw.
    if (typeof request !== "object" || request === null || typeof context !== "object" || context === null) return deny("bad-signature");
    if (context.requestDigest !== undefined && hexBytes(context.requestDigest, 32) === undefined) return deny("bad-signature");
    const digest = requestSigningDigest(request, this.#domainSeparator, context.requestDigest ?? request.requestDigest, this.#signatures.peerIdHash(request.peerId));
    const signature = splitSignature(request.signature);
    const claimed = hexBytes(request.clientId, 20);
    if (digest === undefined || signature === undefined || claimed === undefined) return deny("bad-signature");
    const signed = this.#signatures.signedBy(digest, signature, claimed);
    if (!(signed instanceof Promise ? await signed : signed)) return deny("bad-signature");
    const clientId = this.#signatures.checksum(request.clientId);

    // 2. Node: a request for another node must not be replayable here.
    if (!sameNodeId(request.nodeId, this.#nodeIdBytes)) return deny("wrong-node", clientId);

    // 3. Peer: the request is bound to the key of the connection it arrived on.
    if (request.peerId !== context.connectionPeerId) return deny("peer-mismatch", clientId);

    // 4. Freshness.
    const now = this.#now();
    this.#replay.prune(now);
    if (Math.abs(request.issuedAt - now) > this.#skew) return deny("stale", clientId);

    // 5. A replay is refused before any subscription read, but the nonce is only remembered
    //    once the request is admitted: keys without a subscription cannot fill the memory.
    if (this.#replay.has(clientId, request.nonce)) return deny("replay", clientId);

    let expiresAt: Date | undefined;
    if (!this.freeMode) {
      // 6. Subscription: from the index while it is current, else the contract (cached, limited).
      const expiry = await this.#expiries.expiryOf(clientId, now, context.connectionPeerId);
      if (expiry === undefined) {
        this.#expiries.noteUnavailable();
        return deny("unavailable", clientId);
      }
      if (expiry === 0n) return deny("no-subscription", clientId);
      expiresAt = new Date(Number(expiry) * 1000);
      if (expiry <= BigInt(now)) return { allowed: false, reason: "expired", clientId, expiresAt };
    }

    // 7. Replay within the window (older requests are already stale); atomic with admission.
    if (!this.#replay.admit(clientId, request.nonce, request.issuedAt, now)) return deny("replay", clientId);
    if (!this.freeMode) this.#expiries.remember(clientId);
    return expiresAt === undefined ? { allowed: true, reason: "allowed", clientId } : { allowed: true, reason: "allowed", clientId, expiresAt };
  }

  /** How the gate decides now, and counters an operator can alert on. */
  health(): GateHealth {
    return this.#expiries.health();
  }

  /** `BigInt(now)`, made once per second rather than once per decision. */
  #bigNow(now: number): bigint {
    if (now !== this.#bigNowAt) {
      this.#bigNowAt = now;
      this.#bigNowValue = BigInt(now);
    }
    return this.#bigNowValue;
  }
}

function deny(reason: Exclude<AccessReason, "allowed">, clientId?: string): AccessDecision {
  return clientId === undefined ? { allowed: false, reason } : { allowed: false, reason, clientId };
}

function refuse(reason: Exclude<AccessReason, "allowed">): GrantDecision {
  return { accepted: false, reason };
}

function isGrantShaped(grant: AccessGrant): boolean {
  return (
    typeof grant === "object" &&
    grant !== null &&
    typeof grant.nodeId === "string" &&
    typeof grant.clientId === "string" &&
    typeof grant.peerId === "string" &&
    grant.peerId.length > 0 &&
    grant.peerId.length <= MAX_GRANT_PEER_ID_BYTES &&
    Number.isSafeInteger(grant.issuedAt) &&
    Number.isSafeInteger(grant.expiresAt) &&
    typeof grant.signature === "string"
  );
}
