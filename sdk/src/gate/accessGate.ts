import { getAddress, isAddress, isHexString } from "ethers";
import { requireAddress, resolveDeployment } from "../deployments.js";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId, type NodeId } from "../nodeKey.js";
import { ReplayGuard } from "./replay.js";
import { TypedDataEncoder } from "ethers";
import { loadNativeRecovery } from "./nativeRecovery.js";
import { recoverInJs, type RecoverFn } from "./recovery.js";
import { accessTypedDataDomain, requestSigningHash, type SignedRequest } from "./request.js";

/** Where the gate learns subscription expiries. `SubscriptionIndex` implements it. */
export interface SubscriptionLookup {
  /** True once the in-memory view is current enough to answer without RPC. */
  isCaughtUp(): boolean;
  /** Expiry in seconds from memory (0 when none). */
  expiryOf(nodeId: string, clientId: string): bigint;
  /** Expiry read from the contract, for before the index has caught up. */
  readExpiry(nodeId: string, clientId: string): Promise<bigint>;
}

export type AccessReason =
  | "allowed"
  | "no-subscription"
  | "expired"
  | "wrong-node"
  | "bad-signature"
  | "peer-mismatch"
  | "replay"
  | "stale";

export interface AccessDecision {
  allowed: boolean;
  reason: AccessReason;
  /** The verified signer, once the signature checked out. */
  clientId?: string;
  /** The subscription's expiry, when one was looked up. */
  expiresAt?: Date;
}

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
}

export interface CheckContext {
  /** The peer id of the connection the request came on, as the transport authenticated it. */
  connectionPeerId: string;
  /** The digest the server computed from the payload it received; overrides the claimed one. */
  requestDigest?: string;
}

/**
 * Decides whether a signed request may be served. Checks, in order: signature (recovers to the
 * claimed client id), node, connection peer, freshness, replay, then the subscription. No RPC per
 * request once the index has caught up.
 */
export class AccessGate {
  readonly nodeId: NodeId;
  readonly freeMode: boolean;
  readonly #domainSeparator: string;
  #recover: RecoverFn | Promise<RecoverFn>;
  #backend: "native" | "js" | "custom" | undefined;
  readonly #index: SubscriptionLookup;
  readonly #skew: number;
  readonly #now: () => number;
  readonly #replay: ReplayGuard;

  constructor(options: AccessGateOptions) {
    this.nodeId = normalizeNodeId(options.nodeId);
    const chainId = BigInt(options.chainId);
    const escrow = requireAddress(resolveDeployment(chainId, { escrow: options.escrow }), "escrow", chainId);
    this.#domainSeparator = TypedDataEncoder.hashDomain(accessTypedDataDomain({ chainId, escrow }));
    const recovery = options.signatureRecovery ?? "auto";
    if (typeof recovery === "function") {
      this.#recover = recovery;
      this.#backend = "custom";
    } else if (recovery === "js") {
      this.#recover = recoverInJs;
      this.#backend = "js";
    } else {
      // Loaded once, on first use (constructors stay synchronous).
      this.#recover = loadNativeRecovery().then((native) => {
        this.#backend = native === undefined ? "js" : "native";
        this.#recover = native ?? recoverInJs;
        return this.#recover;
      });
    }
    this.#index = options.index;
    this.#skew = options.maxSkewSeconds ?? 60;
    if (!Number.isInteger(this.#skew) || this.#skew < 0) {
      throw new MailserverSdkError("INVALID_ARGUMENT", "maxSkewSeconds must be a non-negative integer", { details: { maxSkewSeconds: this.#skew } });
    }
    this.freeMode = options.freeMode ?? false;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.#replay = new ReplayGuard(this.#skew);
  }

  /** Which signature recovery the gate uses (known after the first check with "auto"). */
  get signatureBackend(): "native" | "js" | "custom" | undefined {
    return this.#backend;
  }

  /** Nonces currently remembered (bounded by the window). */
  get rememberedNonces(): number {
    return this.#replay.size;
  }

  async check(request: SignedRequest, context: CheckContext): Promise<AccessDecision> {
    // 1. Signature: who is asking. Hostile input must fail here, not throw.
    if (!isWellFormed(request) || (context.requestDigest !== undefined && !isHexString(context.requestDigest, 32))) {
      return deny("bad-signature");
    }
    const recover = this.#recover instanceof Promise ? await this.#recover : this.#recover;
    let recovered: string | undefined;
    try {
      recovered = recover(requestSigningHash(request, this.#domainSeparator, context.requestDigest ?? request.requestDigest), request.signature);
    } catch {
      recovered = undefined;
    }
    if (recovered === undefined || recovered !== getAddress(request.clientId)) return deny("bad-signature");
    const clientId = recovered;

    // 2. Node: a request for another node must not be replayable here.
    if (request.nodeId.toLowerCase() !== this.nodeId) return deny("wrong-node", clientId);

    // 3. Peer: the request is bound to the key of the connection it arrived on.
    if (request.peerId !== context.connectionPeerId) return deny("peer-mismatch", clientId);

    // 4. Freshness.
    const now = this.#now();
    this.#replay.prune(now);
    if (Math.abs(request.issuedAt - now) > this.#skew) return deny("stale", clientId);

    // 5. Replay within the window (older requests are already stale).
    if (!this.#replay.admit(clientId, request.nonce, request.issuedAt, now)) return deny("replay", clientId);

    if (this.freeMode) return { allowed: true, reason: "allowed", clientId };

    // 6. Subscription: from memory once caught up, from the contract before.
    const expiry = this.#index.isCaughtUp()
      ? this.#index.expiryOf(this.nodeId, clientId)
      : await this.#index.readExpiry(this.nodeId, clientId);
    if (expiry === 0n) return deny("no-subscription", clientId);
    const expiresAt = new Date(Number(expiry) * 1000);
    if (expiry <= BigInt(now)) return { allowed: false, reason: "expired", clientId, expiresAt };
    return { allowed: true, reason: "allowed", clientId, expiresAt };
  }
}

function deny(reason: AccessReason, clientId?: string): AccessDecision {
  return clientId === undefined ? { allowed: false, reason } : { allowed: false, reason, clientId };
}

function isWellFormed(request: SignedRequest): boolean {
  return (
    typeof request === "object" &&
    request !== null &&
    isHexString(request.nodeId, 32) &&
    typeof request.clientId === "string" &&
    isAddress(request.clientId) &&
    isHexString(request.requestDigest, 32) &&
    Number.isSafeInteger(request.issuedAt) &&
    request.issuedAt >= 0 &&
    isHexString(request.nonce, 32) &&
    typeof request.peerId === "string" &&
    typeof request.signature === "string"
  );
}
