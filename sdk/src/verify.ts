import { endpointOf, parseEnr, sameEndpoint, type EnrLike, type ParsedEnr } from "./enr.js";
import { positiveInteger } from "./core/args.js";
import { MailserverSdkError } from "./errors.js";
import { kindId, normalizeNodeId, type NodeId } from "./nodeKey.js";
import { verifyOffer, type OfferVerdict, type SignedOffer, type VerifyOfferOptions } from "./offer/document.js";
import type { NodeQuality } from "./quality/types.js";
import type { NodeTrust, RegistryClient } from "./registry.js";
import { offerFacts, rankNodes, type NodeVerdict, type RankPolicy, type Ranking } from "./selection/rank.js";
import { checkAddress } from "./util.js";

/** Why a node is not trusted (several may apply). */
export type UntrustReason =
  | "not-registered"
  | "inactive"
  | "removed"
  | "kind-disabled"
  | "provider-not-approved"
  | "provider-not-trusted"
  | "wrong-kind"
  | "invalid-enr";

// Defined beside the ranking, which reads it first (and so imports nothing from here).
export type { NodeVerdict } from "./selection/rank.js";

export interface VerifiedNode {
  /** Undefined only when the input was an ENR that failed to decode. */
  nodeId: NodeId | undefined;
  /** The ENR given (or the custom node's), as text. */
  enr?: string;
  status: NodeVerdict;
  reasons: UntrustReason[];
  /** The node's provider per the registry (undefined when not registered). */
  provider: string | undefined;
  pricePerMonth: bigint | undefined;
  /** The registered record (ENR or multiaddr). */
  record: string | undefined;
  /**
   * True when both an ENR and a registered record are known and they describe different
   * endpoints or identities (e.g. a discovered record pointing elsewhere than the registered one).
   */
  endpointMismatch: boolean;
  /** Raw trust facts from the registry. */
  trust?: NodeTrust;
  /** With `offers`: the node's offer checked against its node id, the chain and the registry's price (absent: none given). */
  offer?: OfferVerdict;
  /** With `quality`: the trusted probes' summary of the node (null: no trusted probe measured it). */
  quality?: NodeQuality | null;
  /** With `offers`, `quality`, `rttMs` or `rank`: its place and why (`rankNodes`). */
  ranking?: Ranking;
}

export interface TrustPolicyOptions {
  /** Trust the registry's default provider (default true). */
  trustDefaultProvider?: boolean;
  /** More providers to trust. */
  providers?: readonly string[];
  /** Nodes added by hand, by ENR. */
  customNodes?: readonly (string | EnrLike)[];
}

/**
 * The user's trust choices: which providers they trust (the registry's default provider unless
 * they opt out) and which nodes they added by hand. Plain state owned by the caller; nothing
 * global.
 */
export class TrustPolicy {
  trustDefaultProvider: boolean;
  readonly #trusted = new Set<string>();
  // The default provider can change on chain, so opting out of it is remembered by address.
  readonly #distrusted = new Set<string>();
  readonly #custom = new Map<NodeId, ParsedEnr>();

  constructor(options: TrustPolicyOptions = {}) {
    this.trustDefaultProvider = options.trustDefaultProvider ?? true;
    for (const provider of options.providers ?? []) this.trustProvider(provider);
    for (const enr of options.customNodes ?? []) this.addCustomNode(enr);
  }

  trustProvider(provider: string): this {
    const address = checkAddress(provider, "provider");
    this.#trusted.add(address);
    this.#distrusted.delete(address);
    return this;
  }

  untrustProvider(provider: string): this {
    const address = checkAddress(provider, "provider");
    this.#trusted.delete(address);
    this.#distrusted.add(address);
    return this;
  }

  /** Providers trusted explicitly (the default provider is implied unless opted out). */
  trustedProviders(): string[] {
    return [...this.#trusted];
  }

  isProviderTrusted(provider: string, defaultProvider: string | undefined): boolean {
    const address = checkAddress(provider, "provider");
    if (this.#distrusted.has(address)) return false;
    if (this.#trusted.has(address)) return true;
    return this.trustDefaultProvider && defaultProvider !== undefined && checkAddress(defaultProvider, "defaultProvider") === address;
  }

  /** Add a node by hand; its ENR must be valid (INVALID_ENR otherwise). */
  addCustomNode(enr: string | EnrLike): ParsedEnr {
    const parsed = parseEnr(enr);
    this.#custom.set(parsed.nodeId, parsed);
    return parsed;
  }

  removeCustomNode(nodeId: string): boolean {
    return this.#custom.delete(normalizeNodeId(nodeId));
  }

  customNode(nodeId: string): ParsedEnr | undefined {
    return this.#custom.get(normalizeNodeId(nodeId));
  }

  customNodes(): ParsedEnr[] {
    return [...this.#custom.values()];
  }
}

/** A node to verify: ENR text, node id hex, an `ENR` object or a parsed ENR. */
export type NodeInput = string | EnrLike | ParsedEnr;

export interface VerifyOptions {
  /** Default: a fresh policy trusting the default provider only. */
  policy?: TrustPolicy;
  /** When set, nodes of another kind get "wrong-kind". */
  kind?: string;
  /** Ids per `getNodeTrust` call (default 100): only lists longer than this cost more calls. */
  chunkSize?: number;
  /**
   * Signed offers by node id (`fetchOffer`/`fetchOfferHttp`): each is verified (signature, node
   * id, the registry's chain, age) and its price compared with the registry's, which applies.
   */
  offers?: ReadonlyMap<string, SignedOffer>;
  /** Age and clock for the offers' check (see `verifyOffer`). */
  offerCheck?: Pick<VerifyOfferOptions, "maxAgeSeconds" | "maxClockSkewSeconds" | "now">;
  /** The trusted probes' summaries by node id (`summarizeReports` of verified reports). */
  quality?: ReadonlyMap<string, NodeQuality>;
  /** Round-trip times the caller measured, ms, by node id. */
  rttMs?: ReadonlyMap<string, number>;
  /** Floors for the ranking (default `DEFAULT_RANK_POLICY`). */
  rank?: RankPolicy;
}

interface Prepared {
  nodeId?: NodeId;
  parsed?: ParsedEnr;
  invalid: boolean;
}

function isParsedEnr(value: unknown): value is ParsedEnr {
  return typeof value === "object" && value !== null && typeof (value as ParsedEnr).enr === "string" && typeof (value as ParsedEnr).nodeId === "string";
}

function prepare(input: NodeInput): Prepared {
  if (isParsedEnr(input)) return { nodeId: input.nodeId, parsed: input, invalid: false };
  if (typeof input === "string" && !input.trim().startsWith("enr:")) {
    return { nodeId: normalizeNodeId(input.trim()), invalid: false };
  }
  try {
    const parsed = parseEnr(input);
    return { nodeId: parsed.nodeId, parsed, invalid: false };
  } catch (error) {
    if (error instanceof MailserverSdkError && error.code === "INVALID_ENR") return { invalid: true };
    throw error;
  }
}

/**
 * Verify many nodes against the registry and the user's policy with a constant number of RPC
 * calls: one `defaultProvider` read and one batched `getNodeTrust` per `chunkSize` ids.
 * Invalid ENRs come back as untrusted with reason "invalid-enr" rather than failing the batch.
 *
 * Results come in input order; with `offers`, `quality`, `rttMs` or `rank` they are also ranked
 * (`rankNodes`): each carries `ranking` and the list comes best first.
 */
export async function verifyNodes(registry: RegistryClient, inputs: readonly NodeInput[], options: VerifyOptions = {}): Promise<VerifiedNode[]> {
  const policy = options.policy ?? new TrustPolicy();
  const expectedKind = options.kind === undefined ? undefined : kindId(options.kind);
  const chunkSize = positiveInteger("chunkSize", options.chunkSize ?? 100);

  const prepared = inputs.map(prepare);
  const ids = [...new Set(prepared.flatMap((p) => (p.nodeId === undefined ? [] : [p.nodeId])))];
  const chunks: NodeId[][] = [];
  for (let i = 0; i < ids.length; i += chunkSize) chunks.push(ids.slice(i, i + chunkSize));

  const [defaultProvider, ...rows] = await Promise.all([
    registry.defaultProvider(),
    ...chunks.map((chunk) => registry.getNodeTrust(chunk)),
  ]);
  const trustById = new Map<NodeId, NodeTrust>();
  for (const row of rows.flat()) trustById.set(row.nodeId, row);

  const verified = prepared.map((p) => {
    if (p.invalid || p.nodeId === undefined) {
      return {
        nodeId: undefined,
        status: "untrusted",
        reasons: ["invalid-enr"],
        provider: undefined,
        pricePerMonth: undefined,
        record: undefined,
        endpointMismatch: false,
      } satisfies VerifiedNode;
    }
    const trust = trustById.get(p.nodeId);
    const custom = policy.customNode(p.nodeId);
    const enr = p.parsed ?? custom;
    return judge(p.nodeId, trust, enr, custom !== undefined, policy, defaultProvider, expectedKind);
  });
  const ranks = options.offers !== undefined || options.quality !== undefined || options.rttMs !== undefined || options.rank !== undefined;
  return ranks ? rankVerified(verified, options, options.offers === undefined ? undefined : await registry.chainId()) : verified;
}

/** Attaches offers, quality and ranking (see `verifyNodes`); best first. */
function rankVerified(verified: VerifiedNode[], options: VerifyOptions, chainId: bigint | undefined): VerifiedNode[] {
  const candidates = verified.map((v, position) => {
    const id = v.nodeId;
    const signed = id === undefined ? undefined : options.offers?.get(id);
    if (signed !== undefined && id !== undefined) {
      v.offer = verifyOffer(signed, { ...options.offerCheck, nodeId: id, ...(chainId !== undefined ? { chainId } : {}), ...(v.pricePerMonth !== undefined ? { registryPrice: v.pricePerMonth } : {}) });
    }
    if (options.quality !== undefined) v.quality = id === undefined ? null : (options.quality.get(id) ?? null);
    return {
      // Undecodable inputs have no id: keep them apart (and last) by position.
      nodeId: id ?? `~invalid-${String(position).padStart(6, "0")}`,
      verdict: v.status,
      rttMs: id === undefined ? null : (options.rttMs?.get(id) ?? null),
      ...offerFacts(v.offer),
      quality: v.quality ?? null,
      verified: v,
    };
  });
  return rankNodes(candidates, options.rank).map(({ candidate, rank, excluded, standing, reasons }) => {
    candidate.verified.ranking = { rank, excluded, standing, reasons };
    return candidate.verified;
  });
}

/** Verify one node (same rules as `verifyNodes`). */
export async function verifyNode(registry: RegistryClient, input: NodeInput, options: VerifyOptions = {}): Promise<VerifiedNode> {
  const [result] = await verifyNodes(registry, [input], options);
  return result as VerifiedNode;
}

function judge(
  nodeId: NodeId,
  trust: NodeTrust | undefined,
  enr: ParsedEnr | undefined,
  isCustom: boolean,
  policy: TrustPolicy,
  defaultProvider: string | undefined,
  expectedKind: string | undefined,
): VerifiedNode {
  const reasons: UntrustReason[] = [];
  const registered = trust !== undefined && trust.status !== "none";
  if (!registered) {
    reasons.push("not-registered");
  } else {
    if (trust.status === "inactive") reasons.push("inactive");
    if (trust.status === "removed") reasons.push("removed");
    if (!trust.kindEnabled) reasons.push("kind-disabled");
    if (trust.providerStatus !== "approved") reasons.push("provider-not-approved");
    if (!policy.isProviderTrusted(trust.provider, defaultProvider)) reasons.push("provider-not-trusted");
    if (expectedKind !== undefined && trust.kind.toLowerCase() !== expectedKind) reasons.push("wrong-kind");
  }

  let endpointMismatch = false;
  if (registered && enr !== undefined) {
    const registeredEndpoint = endpointOf(trust.record);
    // A record we cannot read cannot vouch for the endpoint we were given.
    endpointMismatch = registeredEndpoint === undefined || !sameEndpoint(endpointOf(enr) ?? {}, registeredEndpoint);
  }

  const status: NodeVerdict =
    registered && trust.trusted && reasons.length === 0 ? "trusted" : isCustom ? "custom" : "untrusted";
  const result: VerifiedNode = {
    nodeId,
    status,
    reasons,
    provider: registered ? trust.provider : undefined,
    pricePerMonth: registered ? trust.pricePerMonth : undefined,
    record: registered ? trust.record : undefined,
    endpointMismatch,
  };
  if (enr !== undefined) result.enr = enr.enr;
  if (trust !== undefined) result.trust = trust;
  return result;
}
