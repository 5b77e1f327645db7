// Ranking mail servers by what a user choosing where to keep messages cares about: trust first,
// then the independent probes' measures and the node's signed offer against floors, then speed.
// Pure and isomorphic: the caller brings the verdicts, RTTs, verified offers and quality summaries.
import { MailserverSdkError } from "../errors.js";
import type { OfferDocument, OfferVerdict } from "../offer/document.js";
import type { NodeQuality } from "../quality/types.js";

/**
 * A node's trust verdict (`verifyNodes`):
 * - trusted: registered, trusted by the registry and run by a provider the user trusts;
 * - custom: added by hand by the user (by ENR), whatever the chain says;
 * - untrusted: anything else.
 */
export type NodeVerdict = "trusted" | "custom" | "untrusted";

/** One node to rank. Unknown facts are null: unknown is not bad, it ranks after known-good. */
export interface RankCandidate {
  nodeId: string;
  /** The trust verdict (`verifyNodes`): untrusted nodes are always excluded. */
  verdict: NodeVerdict;
  /** Round-trip time measured by the client (the selector's probe), null when not measured. */
  rttMs: number | null;
  /** The node's offer, already verified (`verifyOffer`), or null when none was fetched or it was refused. */
  offer: OfferDocument | null;
  /** Why a fetched offer was refused (shown among the reasons; the node ranks as without an offer). */
  offerRefused?: string;
  /** The trusted probes' summary of this node (`summarizeReports`), or null when none measured it. */
  quality: NodeQuality | null;
  /** Facts the caller adds to the reasons, e.g. an offered price that disagrees with the registry's. */
  notes?: readonly string[];
}

/**
 * The floors a node must meet. A node below any floor (measured, not unknown) is `below-floor`:
 * excluded (default) or ranked after every other usable node (`belowFloor: "last"`).
 */
export interface RankPolicy {
  /** Share of the probes' dial attempts that succeeded, 0..1 (default 0.9). */
  minAvailability?: number;
  /** Share of the probes' marker messages the node had, 0..1 (default 0.9). */
  minCompleteness?: number;
  /** Markers the node dropped before its advertised retention that are tolerated (default 0). */
  maxDroppedEarly?: number;
  /** Age the app needs messages kept, seconds, against the offer's `retention.maxAgeSeconds` (default 0: no need). */
  minRetentionSeconds?: number;
  /** Bytes the app needs a node to keep, against the offer's `retention.maxBytes` (default 0: no need). */
  minRetentionBytes?: number;
  /** Probes' median store-query latency above which a node is below the floor, ms (default: no ceiling). */
  maxLatencyP50Ms?: number;
  /** What a node below a floor becomes (default "exclude"). */
  belowFloor?: "exclude" | "last";
}

/** The defaults of {@link RankPolicy}. */
export const DEFAULT_RANK_POLICY: Readonly<Required<RankPolicy>> = Object.freeze({
  minAvailability: 0.9,
  minCompleteness: 0.9,
  maxDroppedEarly: 0,
  minRetentionSeconds: 0,
  minRetentionBytes: 0,
  maxLatencyP50Ms: Number.POSITIVE_INFINITY,
  belowFloor: "exclude" as const,
});

/**
 * Where a node stands, best first:
 * - good: trusted or custom, measured by a trusted probe and above every floor, and its offer
 *   (when the app needs some retention) keeps enough;
 * - unknown: nothing bad known, but a measure or the offer the policy needs is missing;
 * - below-floor: a measure or the offer is below a floor;
 * - untrusted: never usable.
 */
export type RankStanding = "good" | "unknown" | "below-floor" | "untrusted";

export interface RankedNode<C extends RankCandidate = RankCandidate> {
  nodeId: string;
  /** 1 = best. Excluded nodes are ranked too, after every usable one. */
  rank: number;
  excluded: boolean;
  standing: RankStanding;
  /** Why it stands where it does, in plain sentences (first: the standing; then each fact). */
  reasons: string[];
  candidate: C;
}

/** A node's place without the node: what the selector and `verifyNodes` attach to their results. */
export type Ranking = Pick<RankedNode, "rank" | "excluded" | "standing" | "reasons">;

const STANDING_ORDER: Record<RankStanding, number> = { good: 0, unknown: 1, "below-floor": 2, untrusted: 3 };

const pct = (ratio: number) => `${(ratio * 100).toLocaleString("en-US", { maximumFractionDigits: 1 })}%`;
const days = (seconds: number) => {
  const d = seconds / 86_400;
  return d >= 1 ? `${d.toLocaleString("en-US", { maximumFractionDigits: 1 })} day${d === 1 ? "" : "s"}` : `${Math.round(seconds / 3600)} h`;
};
const bytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toLocaleString("en-US", { maximumFractionDigits: 1 })} GiB` : `${Math.round(n / 2 ** 20)} MiB`);

interface Judged {
  standing: RankStanding;
  facts: string[];
  /** Why it is not good (the standing sentence's detail). */
  why: string[];
}

function judge(c: RankCandidate, p: Readonly<Required<RankPolicy>>): Judged {
  const facts: string[] = [];
  const bad: string[] = [];
  const unknown: string[] = [];
  if (c.verdict === "untrusted") return { standing: "untrusted", facts: [], why: ["not trusted (see its verdict)"] };
  facts.push(c.verdict === "trusted" ? "trusted: registered, run by a provider you trust" : "added by you by hand");

  const q = c.quality;
  if (q === null) {
    unknown.push("no trusted probe has measured it");
  } else {
    const probes = `${q.probes.length} probe${q.probes.length === 1 ? "" : "s"}`;
    if (q.availability === null) unknown.push("availability not measured");
    else if (q.availability < p.minAvailability) bad.push(`available ${pct(q.availability)} of the time, below the floor of ${pct(p.minAvailability)}`);
    else facts.push(`available ${pct(q.availability)} of the time (${probes}; floor ${pct(p.minAvailability)})`);
    if (q.completeness === null) unknown.push("completeness not measured");
    else if (q.completeness < p.minCompleteness) bad.push(`had ${pct(q.completeness)} of the probes' messages, below the floor of ${pct(p.minCompleteness)}`);
    else facts.push(`had ${pct(q.completeness)} of the probes' messages (floor ${pct(p.minCompleteness)})`);
    if (q.droppedEarly > p.maxDroppedEarly) bad.push(`dropped ${q.droppedEarly} message(s) before its advertised retention`);
    if (q.latencyP50Ms !== null) {
      if (q.latencyP50Ms > p.maxLatencyP50Ms) bad.push(`answers in ${Math.round(q.latencyP50Ms)} ms (median), above the ceiling of ${p.maxLatencyP50Ms} ms`);
      else facts.push(`answers in ${Math.round(q.latencyP50Ms)} ms (median, probes)`);
    }
  }

  if (c.offerRefused !== undefined) facts.push(`its offer was refused: ${c.offerRefused}`);
  facts.push(...(c.notes ?? []));
  const needsRetention = p.minRetentionSeconds > 0 || p.minRetentionBytes > 0;
  if (c.offer === null) {
    if (needsRetention) unknown.push("no valid offer, so its retention is unknown");
  } else {
    const { maxAgeSeconds, maxBytes } = c.offer.retention;
    if (p.minRetentionSeconds > 0 && maxAgeSeconds > 0 && maxAgeSeconds < p.minRetentionSeconds) {
      bad.push(`keeps messages ${days(maxAgeSeconds)}, the app needs ${days(p.minRetentionSeconds)}`);
    } else if (p.minRetentionBytes > 0 && maxBytes > 0 && maxBytes < p.minRetentionBytes) {
      bad.push(`keeps at most ${bytes(maxBytes)}, the app needs ${bytes(p.minRetentionBytes)}`);
    } else {
      facts.push(`keeps messages ${maxAgeSeconds === 0 ? "without an age limit" : days(maxAgeSeconds)}${maxBytes === 0 ? "" : `, up to ${bytes(maxBytes)}`} (its offer)`);
    }
  }

  facts.push(c.rttMs === null ? "round trip not measured" : `round trip ${Math.round(c.rttMs)} ms`);
  if (bad.length > 0) return { standing: "below-floor", facts, why: bad };
  if (unknown.length > 0) return { standing: "unknown", facts, why: unknown };
  return { standing: "good", facts, why: [] };
}

/** Nulls last; ascending. */
function byNumber(a: number | null | undefined, b: number | null | undefined): number {
  const x = a ?? Number.POSITIVE_INFINITY;
  const y = b ?? Number.POSITIVE_INFINITY;
  return x === y ? 0 : x < y ? -1 : 1;
}

/**
 * Ranks nodes. The order, documented and deterministic:
 * 1. standing: good, unknown, below-floor, untrusted (see {@link RankStanding}); untrusted nodes
 *    are always excluded, below-floor ones per `policy.belowFloor` (excluded by default);
 * 2. the client's own round trip (the selector's RTT rule), unmeasured after measured;
 * 3. the probes' median latency, unmeasured after measured (what orders nodes no RTT was taken of);
 * 4. node id, so equal nodes keep one order everywhere.
 * Every node gets `reasons`: its standing in one sentence, then the facts behind it.
 */
export function rankNodes<C extends RankCandidate>(candidates: readonly C[], policy: RankPolicy = {}): RankedNode<C>[] {
  const p = resolveRankPolicy(policy);
  const judged = candidates.map((candidate) => ({ candidate, ...judge(candidate, p) }));
  judged.sort(
    (a, b) =>
      STANDING_ORDER[a.standing] - STANDING_ORDER[b.standing] ||
      byNumber(a.candidate.rttMs, b.candidate.rttMs) ||
      byNumber(a.candidate.quality?.latencyP50Ms, b.candidate.quality?.latencyP50Ms) ||
      (a.candidate.nodeId < b.candidate.nodeId ? -1 : a.candidate.nodeId > b.candidate.nodeId ? 1 : 0),
  );
  return judged.map(({ candidate, standing, facts, why }, i) => {
    const excluded = standing === "untrusted" || (standing === "below-floor" && p.belowFloor === "exclude");
    const head =
      standing === "good"
        ? "measured good: above every floor"
        : standing === "unknown"
          ? `ranked after measured nodes: ${why.join("; ")}`
          : standing === "below-floor"
            ? `${excluded ? "excluded" : "ranked last"}: ${why.join("; ")}`
            : `excluded: ${why.join("; ")}`;
    return { nodeId: candidate.nodeId, rank: i + 1, excluded, standing, reasons: [head, ...facts], candidate };
  });
}

/** A candidate's offer fields from `verifyOffer`'s verdict (none given: no offer). */
export function offerFacts(verdict: OfferVerdict | undefined): Pick<RankCandidate, "offer" | "offerRefused" | "notes"> {
  if (verdict === undefined) return { offer: null };
  if (!verdict.valid) return { offer: null, offerRefused: `${verdict.reason}: ${verdict.message}` };
  const notes = verdict.mismatches.map((m) => `its offer says ${m.offered ?? "no"} a month, the registry ${m.registry}: the registry's price applies`);
  return { offer: verdict.offer, ...(notes.length > 0 ? { notes } : {}) };
}

/** The policy with defaults filled in; a floor out of its range is an INVALID_ARGUMENT. */
export function resolveRankPolicy(policy: RankPolicy = {}): Readonly<Required<RankPolicy>> {
  const p = { ...DEFAULT_RANK_POLICY, ...(Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined)) as RankPolicy) };
  const bad = (field: string, rule: string) => new MailserverSdkError("INVALID_ARGUMENT", `rank policy: ${field} must be ${rule}`, { details: { field } });
  for (const field of ["minAvailability", "minCompleteness"] as const) {
    if (typeof p[field] !== "number" || !(p[field] >= 0 && p[field] <= 1)) throw bad(field, "a ratio in 0..1");
  }
  for (const field of ["maxDroppedEarly", "minRetentionSeconds", "minRetentionBytes", "maxLatencyP50Ms"] as const) {
    if (typeof p[field] !== "number" || !(p[field] >= 0)) throw bad(field, "a number >= 0");
  }
  if (p.belowFloor !== "exclude" && p.belowFloor !== "last") throw bad("belowFloor", '"exclude" or "last"');
  return p;
}
