// Signed quality reports of independent probes: signing, strict parsing, verification against the
// probes an app trusts, the per-node summary, and reading reports over HTTP or from any Waku store
// node. Isomorphic: no Node built-ins, no dependency on @waku/sdk (a light node is passed in).
//
// Wire format: UTF-8 JSON `{"report":{...canonical document...},"signature":"0x<65 bytes>"}`, at
// most MAX_PROBE_REPORT_BYTES, as a Waku message payload on PROBE_REPORT_CONTENT_TOPIC and as
// each entry of a probe's HTTP answer `{"reports":[...]}`. The signature is EIP-191
// (`personal_sign`) by the probe's node key over JSON.stringify of the document rebuilt in the
// field order of ProbeReportDocument (no whitespace), exactly as offers are signed.
import { getAddress, hexlify, isHexString, verifyMessage, Wallet, type BytesLike } from "ethers";
import { readBoundedBody, type BodyReadError } from "../core/httpBody.js";
import { MailserverSdkError } from "../errors.js";
import { nodeAddress, nodeIdFromPublicKey, normalizeNodeId } from "../nodeKey.js";
import type { RegistryClient } from "../registry.js";
import { checkAddress } from "../util.js";
import { verifyNodes, type TrustPolicy } from "../verify.js";
import {
  MAX_PROBE_REPORT_BYTES,
  MAX_PROBE_REPORT_NODES,
  PROBE_KIND_NAME,
  PROBE_REPORT_CONTENT_TOPIC,
  PROBE_REPORT_TYPE,
  PROBE_REPORT_VERSION,
  type NodeMeasure,
  type NodeQuality,
  type ProbeReportDocument,
  type SignedProbeReport,
} from "./types.js";

/** The fields a probe fills in; `type`, `version` and `probeNodeId` come from the signer. */
export type ProbeReportFields = Omit<ProbeReportDocument, "type" | "version" | "probeNodeId">;

/** Why a report is not counted. */
export type ProbeReportRejection =
  /** Not a well-formed report document or signature. */
  | "malformed"
  /** The signature does not recover, or recovers to another key than the probe node id's. */
  | "bad-signature"
  /** Validly signed by a probe the caller does not trust (not a trusted probe of the registry). */
  | "untrusted-probe"
  /** Measured against another chain's registry than the caller's. */
  | "wrong-chain"
  | "wrong-registry"
  /** Signed longer ago than `maxAgeSeconds`. */
  | "stale"
  /** Signed in the future (beyond `maxClockSkewSeconds`). */
  | "from-future";

export type ProbeReportVerdict = { ok: true; report: ProbeReportDocument } | { ok: false; reason: ProbeReportRejection; detail: string };

export interface VerifyProbeReportOptions {
  /** Node ids of the probes the caller trusts (e.g. from {@link trustedProbeIds}). */
  trustedProbes: readonly string[];
  chainId: number;
  /** The registry the caller reads (any checksum case). */
  registry: string;
  /** Clock, unix seconds (default: this machine's). */
  now?: number;
  /** Oldest report accepted, seconds (default DEFAULT_PROBE_REPORT_MAX_AGE_SECONDS). */
  maxAgeSeconds?: number;
  /** How far in the future `issuedAt` may be (another machine's clock), seconds (default 300). */
  maxClockSkewSeconds?: number;
}

/** Reports older than this are stale by default: a day of rounds is what a user's choice needs. */
export const DEFAULT_PROBE_REPORT_MAX_AGE_SECONDS = 86_400;
/** Window of {@link summarizeReports} by default, seconds. */
export const DEFAULT_QUALITY_WINDOW_SECONDS = 86_400;
/** Largest HTTP answer {@link fetchProbeReportsHttp} reads by default, bytes (64 maximal reports). */
export const MAX_PROBE_REPORTS_HTTP_BYTES = 64 * MAX_PROBE_REPORT_BYTES;

function invalid(message: string, details: Record<string, unknown> = {}, cause?: unknown): MailserverSdkError {
  return new MailserverSdkError("INVALID_PROBE_REPORT", `invalid probe report: ${message}`, { details, ...(cause !== undefined ? { cause } : {}) });
}

function record(value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(`${what} is not an object`);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!keys.includes(key)) throw invalid(`unknown field ${what}.${key}`);
  for (const key of keys) if (!(key in o)) throw invalid(`missing field ${what}.${key}`);
  return o;
}

function uint(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw invalid(`${what} must be a non-negative integer`);
  return value;
}

function uintOrNull(value: unknown, what: string): number | null {
  return value === null ? null : uint(value, what);
}

function nodeIdField(value: unknown, what: string): string {
  if (typeof value !== "string" || !isHexString(value, 32)) throw invalid(`${what} must be 32 bytes hex`);
  return value.toLowerCase();
}

function parseMeasure(value: unknown, i: number): NodeMeasure {
  const at = `nodes[${i}]`;
  const o = record(value, at, ["nodeId", "availability", "latencyMs", "completeness", "retention"]);
  const availability = record(o.availability, `${at}.availability`, ["attempts", "successes"]);
  const latency = record(o.latencyMs, `${at}.latencyMs`, ["samples", "p50", "p99"]);
  const completeness = record(o.completeness, `${at}.completeness`, ["markers", "found", "medianDelayMs"]);
  const retention = record(o.retention, `${at}.retention`, ["checked", "droppedEarly", "keptPastAdvertised"]);
  const m: NodeMeasure = {
    nodeId: nodeIdField(o.nodeId, `${at}.nodeId`),
    availability: { attempts: uint(availability.attempts, `${at}.availability.attempts`), successes: uint(availability.successes, `${at}.availability.successes`) },
    latencyMs: { samples: uint(latency.samples, `${at}.latencyMs.samples`), p50: uintOrNull(latency.p50, `${at}.latencyMs.p50`), p99: uintOrNull(latency.p99, `${at}.latencyMs.p99`) },
    completeness: {
      markers: uint(completeness.markers, `${at}.completeness.markers`),
      found: uint(completeness.found, `${at}.completeness.found`),
      medianDelayMs: uintOrNull(completeness.medianDelayMs, `${at}.completeness.medianDelayMs`),
    },
    retention: {
      checked: uint(retention.checked, `${at}.retention.checked`),
      droppedEarly: uint(retention.droppedEarly, `${at}.retention.droppedEarly`),
      keptPastAdvertised: uint(retention.keptPastAdvertised, `${at}.retention.keptPastAdvertised`),
    },
  };
  // Counts that cannot be true together are refused rather than clamped: a ranking must never
  // read an availability above 1 or a latency from no sample.
  if (m.availability.successes > m.availability.attempts) throw invalid(`${at}: more successes than attempts`);
  if (m.completeness.found > m.completeness.markers) throw invalid(`${at}: more markers found than published`);
  if (m.retention.droppedEarly > m.retention.checked) throw invalid(`${at}: more markers dropped than checked`);
  if ((m.latencyMs.samples === 0) !== (m.latencyMs.p50 === null) || (m.latencyMs.samples === 0) !== (m.latencyMs.p99 === null)) {
    throw invalid(`${at}: latency percentiles must be given exactly when there are samples`);
  }
  if (m.latencyMs.p50 !== null && m.latencyMs.p99 !== null && m.latencyMs.p50 > m.latencyMs.p99) throw invalid(`${at}: latency p50 above p99`);
  if ((m.completeness.found === 0) !== (m.completeness.medianDelayMs === null)) throw invalid(`${at}: medianDelayMs must be given exactly when a marker was found`);
  return m;
}

/**
 * Checks a parsed report document field by field and rebuilds it in canonical order: what is
 * signed is always this rebuilt form, so field order or whitespace on the wire cannot change it.
 * Throws INVALID_PROBE_REPORT.
 */
export function parseProbeReportDocument(value: unknown): ProbeReportDocument {
  const o = record(value, "report", ["type", "version", "probeNodeId", "chainId", "registry", "periodStart", "periodEnd", "issuedAt", "nodes"]);
  if (o.type !== PROBE_REPORT_TYPE) throw invalid(`type must be ${PROBE_REPORT_TYPE}`);
  if (o.version !== PROBE_REPORT_VERSION) throw invalid(`unsupported version ${String(o.version)} (this SDK reads ${PROBE_REPORT_VERSION})`, { version: o.version });
  if (typeof o.registry !== "string" || !isHexString(o.registry, 20)) throw invalid("registry must be an address");
  if (!Array.isArray(o.nodes) || o.nodes.length > MAX_PROBE_REPORT_NODES) throw invalid(`nodes must be a list of at most ${MAX_PROBE_REPORT_NODES}`);
  const doc: ProbeReportDocument = {
    type: PROBE_REPORT_TYPE,
    version: PROBE_REPORT_VERSION,
    probeNodeId: nodeIdField(o.probeNodeId, "probeNodeId"),
    chainId: uint(o.chainId, "chainId"),
    registry: getAddress(o.registry.toLowerCase()),
    periodStart: uint(o.periodStart, "periodStart"),
    periodEnd: uint(o.periodEnd, "periodEnd"),
    issuedAt: uint(o.issuedAt, "issuedAt"),
    nodes: o.nodes.map(parseMeasure),
  };
  if (doc.periodStart > doc.periodEnd) throw invalid("periodStart is after periodEnd");
  if (doc.periodEnd > doc.issuedAt) throw invalid("issuedAt is before the end of the period");
  // One node measured twice in one report would count twice in a summary.
  const seen = new Set<string>();
  for (const m of doc.nodes) {
    if (seen.has(m.nodeId)) throw invalid(`node ${m.nodeId} appears twice`);
    seen.add(m.nodeId);
  }
  return doc;
}

/** The bytes the probe key signs: the document in canonical order, UTF-8 JSON without whitespace. */
export function canonicalProbeReportBytes(report: ProbeReportDocument): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(parseProbeReportDocument(report)));
}

/** Signs a report with the probe's node private key (32 bytes); `probeNodeId` is the key's own. */
export async function signProbeReport(nodeKey: BytesLike, fields: ProbeReportFields): Promise<SignedProbeReport> {
  let wallet: Wallet;
  try {
    wallet = new Wallet(hexlify(nodeKey));
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "invalid probe node private key", { cause: error });
  }
  const report = parseProbeReportDocument({
    type: PROBE_REPORT_TYPE,
    version: PROBE_REPORT_VERSION,
    probeNodeId: nodeIdFromPublicKey(wallet.signingKey.publicKey),
    ...fields,
  });
  const signed = { report, signature: await wallet.signMessage(canonicalProbeReportBytes(report)) };
  // Refuse to sign what no reader would accept.
  encodeProbeReport(signed);
  return signed;
}

/** `{"report":…,"signature":…}` as UTF-8 JSON. INVALID_PROBE_REPORT when malformed or above MAX_PROBE_REPORT_BYTES. */
export function encodeProbeReport(signed: SignedProbeReport): Uint8Array {
  const report = parseProbeReportDocument(signed.report);
  if (typeof signed.signature !== "string" || !isHexString(signed.signature, 65)) throw invalid("signature must be 65 bytes hex");
  const bytes = new TextEncoder().encode(JSON.stringify({ report, signature: signed.signature.toLowerCase() }));
  if (bytes.length > MAX_PROBE_REPORT_BYTES) throw invalid(`encoded report is ${bytes.length} bytes, above ${MAX_PROBE_REPORT_BYTES}`, { size: bytes.length });
  return bytes;
}

function signedFrom(value: unknown): SignedProbeReport {
  const o = record(value, "signed report", ["report", "signature"]);
  if (typeof o.signature !== "string" || !isHexString(o.signature, 65)) throw invalid("signature must be 65 bytes hex");
  return { report: parseProbeReportDocument(o.report), signature: o.signature.toLowerCase() };
}

/** Decodes an encoded report; oversized, not JSON or not a report throws INVALID_PROBE_REPORT. The signature is checked by {@link verifyProbeReport}. */
export function decodeProbeReport(bytes: Uint8Array): SignedProbeReport {
  if (bytes.length > MAX_PROBE_REPORT_BYTES) throw invalid(`${bytes.length} bytes, above ${MAX_PROBE_REPORT_BYTES}`, { size: bytes.length });
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw invalid("not UTF-8 JSON", {}, error);
  }
  return signedFrom(parsed);
}

/**
 * Whether a report counts: well formed, signed by its probe's own key, from a trusted probe, for
 * the caller's chain and registry, and recent. Never throws for a bad report: the verdict says why
 * (bad options, e.g. a registry that is not an address, are INVALID_ARGUMENT).
 */
export function verifyProbeReport(signed: SignedProbeReport, options: VerifyProbeReportOptions): ProbeReportVerdict {
  let report: ProbeReportDocument;
  let signature: string;
  try {
    if (typeof signed !== "object" || signed === null) throw invalid("not an object");
    report = parseProbeReportDocument(signed.report);
    if (typeof signed.signature !== "string" || !isHexString(signed.signature, 65)) throw invalid("signature must be 65 bytes hex");
    signature = signed.signature;
  } catch (error) {
    return { ok: false, reason: "malformed", detail: error instanceof Error ? error.message : String(error) };
  }
  let signer: string;
  try {
    signer = verifyMessage(canonicalProbeReportBytes(report), signature);
  } catch {
    return { ok: false, reason: "bad-signature", detail: "the signature does not recover" };
  }
  if (signer !== nodeAddress(report.probeNodeId)) {
    return { ok: false, reason: "bad-signature", detail: `signed by ${signer}, not by the key of probe ${report.probeNodeId}` };
  }
  const trusted = new Set(options.trustedProbes.map(normalizeNodeId));
  if (!trusted.has(report.probeNodeId)) {
    return { ok: false, reason: "untrusted-probe", detail: `probe ${report.probeNodeId} is not a trusted probe` };
  }
  if (report.chainId !== options.chainId) {
    return { ok: false, reason: "wrong-chain", detail: `the report is for chain ${report.chainId}, not ${options.chainId}` };
  }
  const registry = checkAddress(options.registry.toLowerCase(), "registry");
  if (report.registry !== registry) {
    return { ok: false, reason: "wrong-registry", detail: `the report measured registry ${report.registry}, not ${registry}` };
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (report.issuedAt > now + (options.maxClockSkewSeconds ?? 300)) {
    return { ok: false, reason: "from-future", detail: `signed at ${report.issuedAt}, after ${now}` };
  }
  const maxAge = options.maxAgeSeconds ?? DEFAULT_PROBE_REPORT_MAX_AGE_SECONDS;
  if (now - report.issuedAt > maxAge) {
    return { ok: false, reason: "stale", detail: `signed at ${report.issuedAt}, more than ${maxAge} s before ${now}` };
  }
  return { ok: true, report };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

/**
 * Folds verified reports into one quality per node, over the reports whose period ended within
 * `windowSeconds` before `now`. The same report read twice (from HTTP and from a store node) is
 * counted once (same probe, period and signing time). Rules:
 * - availability = Σ successes / Σ attempts, completeness = Σ found / Σ markers, over every probe
 *   and report (counts, so a probe that measured more weighs more); null when the sum is 0;
 * - latencyP50Ms = the median of the reports' p50s; latencyP99Ms = the largest of their p99s (a
 *   tail seen by any probe is a tail a user may meet); null without samples;
 * - droppedEarly = Σ droppedEarly.
 * Pass only reports {@link verifyProbeReport} accepted.
 */
export function summarizeReports(reports: readonly ProbeReportDocument[], options: { now?: number; windowSeconds?: number } = {}): Map<string, NodeQuality> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const since = now - (options.windowSeconds ?? DEFAULT_QUALITY_WINDOW_SECONDS);
  interface Acc {
    probes: Set<string>;
    reports: number;
    from: number;
    to: number;
    attempts: number;
    successes: number;
    markers: number;
    found: number;
    p50s: number[];
    p99: number | null;
    droppedEarly: number;
  }
  const byNode = new Map<string, Acc>();
  const counted = new Set<string>();
  for (const report of reports) {
    if (report.periodEnd < since) continue;
    const key = `${report.probeNodeId}:${report.periodStart}:${report.periodEnd}:${report.issuedAt}`;
    if (counted.has(key)) continue;
    counted.add(key);
    for (const m of report.nodes) {
      let acc = byNode.get(m.nodeId);
      if (acc === undefined) {
        acc = { probes: new Set(), reports: 0, from: report.periodStart, to: report.periodEnd, attempts: 0, successes: 0, markers: 0, found: 0, p50s: [], p99: null, droppedEarly: 0 };
        byNode.set(m.nodeId, acc);
      }
      acc.probes.add(report.probeNodeId);
      acc.reports += 1;
      acc.from = Math.min(acc.from, report.periodStart);
      acc.to = Math.max(acc.to, report.periodEnd);
      acc.attempts += m.availability.attempts;
      acc.successes += m.availability.successes;
      acc.markers += m.completeness.markers;
      acc.found += m.completeness.found;
      if (m.latencyMs.p50 !== null) acc.p50s.push(m.latencyMs.p50);
      if (m.latencyMs.p99 !== null) acc.p99 = Math.max(acc.p99 ?? 0, m.latencyMs.p99);
      acc.droppedEarly += m.retention.droppedEarly;
    }
  }
  const result = new Map<string, NodeQuality>();
  for (const [nodeId, acc] of byNode) {
    result.set(nodeId, {
      nodeId,
      probes: [...acc.probes].sort(),
      reports: acc.reports,
      period: { from: acc.from, to: acc.to },
      availability: acc.attempts === 0 ? null : acc.successes / acc.attempts,
      completeness: acc.markers === 0 ? null : acc.found / acc.markers,
      latencyP50Ms: acc.p50s.length === 0 ? null : median(acc.p50s),
      latencyP99Ms: acc.p99,
      droppedEarly: acc.droppedEarly,
    });
  }
  return result;
}

export interface TrustedProbeOptions {
  /**
   * Also require the probe's provider to be one the user trusts (the registry's default provider
   * unless opted out, plus the policy's). Without it, every probe the registry trusts counts.
   */
  policy?: TrustPolicy;
  /** Ids per batched trust read (default 100). */
  chunkSize?: number;
}

/**
 * Node ids of the registry's trusted probes: active nodes of kind PROBE_KIND_NAME whose kind is
 * enabled and whose provider is approved (and, with `options.policy`, trusted by the user).
 */
export async function trustedProbeIds(registry: RegistryClient, options: TrustedProbeOptions = {}): Promise<string[]> {
  const ids = await registry.allNodesByKind(PROBE_KIND_NAME);
  if (ids.length === 0) return [];
  const verified = await verifyNodes(registry, ids, {
    kind: PROBE_KIND_NAME,
    ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
    ...(options.policy !== undefined ? { policy: options.policy } : {}),
  });
  return verified.flatMap((v) => {
    if (v.nodeId === undefined || v.trust === undefined || !v.trust.trusted) return [];
    // Without a policy, the user's provider choice is not asked: the registry's word is enough.
    const reasons = options.policy === undefined ? v.reasons.filter((r) => r !== "provider-not-trusted") : v.reasons;
    return reasons.length === 0 ? [v.nodeId] : [];
  });
}

export interface FetchProbeReportsHttpOptions {
  /** Deadline for the whole answer, ms (default 10 s). */
  timeoutMs?: number;
  /** Largest answer read, bytes (default MAX_PROBE_REPORTS_HTTP_BYTES). */
  maxBytes?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/**
 * Reads a probe's latest signed reports over HTTP (`GET …/reports` of `mailserver-probe`:
 * `{"reports":[{report, signature}, …]}`), reading at most `maxBytes`. Signatures are checked by
 * {@link verifyProbeReport}. NODE_UNAVAILABLE when unreachable, not 200 or late;
 * INVALID_PROBE_REPORT when oversized or not a list of reports.
 */
export async function fetchProbeReportsHttp(url: string, options: FetchProbeReportsHttpOptions = {}): Promise<SignedProbeReport[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? MAX_PROBE_REPORTS_HTTP_BYTES;
  const signal = AbortSignal.timeout(timeoutMs);
  const unavailable = (message: string, cause?: unknown) =>
    new MailserverSdkError("NODE_UNAVAILABLE", message, { details: { url, timeoutMs }, ...(cause !== undefined ? { cause } : {}) });
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, { signal, headers: { accept: "application/json" } });
  } catch (error) {
    throw unavailable("cannot fetch the probe's reports", error);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw unavailable(`the probe's reports answered HTTP ${response.status}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readBoundedBody(response, maxBytes);
  } catch (error) {
    const failure = error as BodyReadError;
    if (failure.kind === "too-large") throw invalid(failure.message, { size: failure.size });
    throw unavailable("the probe's reports did not arrive in time", failure.cause);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw invalid("not UTF-8 JSON", {}, error);
  }
  const list = record(parsed, "answer", ["reports"]).reports;
  if (!Array.isArray(list)) throw invalid("reports is not a list");
  return list.map((entry) => {
    const signed = signedFrom(entry);
    encodeProbeReport(signed); // the size bound of one report holds here too
    return signed;
  });
}

/** The part of a `@waku/sdk` light node (0.0.36) this needs: `createDecoder` and `store.queryGenerator`. */
export interface ProbeReportStoreNode {
  createDecoder(params: { contentTopic: string; shardId?: number }): unknown;
  store: {
    queryGenerator(decoders: never[], options?: never): AsyncGenerator<Promise<{ payload?: Uint8Array } | undefined>[]>;
  };
}

export interface ReadProbeReportsOptions {
  /** The shard reports are published on (default: the light node's first). */
  shardId?: number;
  /** Only messages stamped at or after this, unix seconds (default: a day ago). */
  since?: number;
  /** Deadline for the whole read, ms (default 20 s); what arrived by then is returned. */
  timeoutMs?: number;
  /** Stop after this many messages (default 1,000). */
  maxMessages?: number;
  /** Extra query options for @waku/sdk (e.g. `{ peerId }` to ask one store node). */
  query?: Record<string, unknown>;
}

export interface StoredProbeReports {
  /** Decoded reports, signatures not checked yet ({@link verifyProbeReport}). */
  reports: SignedProbeReport[];
  /** Messages on the topic that are not reports (anyone can publish there). */
  rejected: number;
  /** The read ran out of time or hit `maxMessages` before the store's last page. */
  truncated: boolean;
}

/**
 * Reads reports from store nodes by content topic (PROBE_REPORT_CONTENT_TOPIC) with a `@waku/sdk`
 * light node the app already runs (e.g. one set up by `wakuClientOptions`): any store node of the
 * network keeps them, ours or not. Anyone can publish on the topic, so messages that are not
 * reports are counted and skipped, never thrown.
 */
export async function readProbeReportsFromStore(waku: ProbeReportStoreNode, options: ReadProbeReportsOptions = {}): Promise<StoredProbeReports> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const maxMessages = options.maxMessages ?? 1000;
  const since = options.since ?? Math.floor(Date.now() / 1000) - DEFAULT_PROBE_REPORT_MAX_AGE_SECONDS;
  const decoder = waku.createDecoder({ contentTopic: PROBE_REPORT_CONTENT_TOPIC, ...(options.shardId !== undefined ? { shardId: options.shardId } : {}) });
  const generator = waku.store.queryGenerator([decoder as never], { timeStart: new Date(since * 1000), paginationForward: false, ...options.query } as never);
  const result: StoredProbeReports = { reports: [], rejected: 0, truncated: false };
  let seen = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    for (;;) {
      const next = await Promise.race([generator.next(), deadline]);
      if (next === "timeout") {
        result.truncated = true;
        break;
      }
      if (next.done === true) break;
      const messages = await Promise.race([Promise.all(next.value), deadline]);
      if (messages === "timeout") {
        result.truncated = true;
        break;
      }
      for (const message of messages) {
        if (message === undefined) continue;
        seen += 1;
        try {
          result.reports.push(decodeProbeReport(message.payload ?? new Uint8Array(0)));
        } catch {
          result.rejected += 1;
        }
      }
      if (seen >= maxMessages) {
        result.truncated = true;
        break;
      }
    }
  } catch (error) {
    throw new MailserverSdkError("NODE_UNAVAILABLE", "cannot read probe reports from the store node", { cause: error, details: { contentTopic: PROBE_REPORT_CONTENT_TOPIC } });
  } finally {
    clearTimeout(timer);
    // Ends @waku/sdk's paging; it would otherwise go on to an empty page.
    void generator.return(undefined).catch(() => undefined);
  }
  return result;
}
