// Signed quality reports of independent probes, the document itself: signing, strict parsing,
// encoding and verification against the probes an app trusts. The summary is in summary.ts, the
// readers (registry, HTTP, Waku store) in sources.ts. Isomorphic: no Node built-ins.
//
// Wire format: UTF-8 JSON `{"report":{...canonical document...},"signature":"0x<65 bytes>"}`, at
// most MAX_PROBE_REPORT_BYTES, as a Waku message payload on PROBE_REPORT_CONTENT_TOPIC and as
// each entry of a probe's HTTP answer `{"reports":[...]}`. The signature is EIP-191
// (`personal_sign`) by the probe's node key over JSON.stringify of the document rebuilt in the
// field order of ProbeReportDocument (no whitespace), exactly as offers are signed.
import { getAddress, hexlify, isHexString, verifyMessage, Wallet, type BytesLike } from "ethers";
import { boundedJson, boundedUint, documentError, exactRecord } from "../core/document.js";
import { MailserverSdkError } from "../errors.js";
import { nodeAddress, nodeIdFromPublicKey, normalizeNodeId } from "../nodeKey.js";
import { checkAddress } from "../util.js";
import {
  MAX_PROBE_REPORT_BYTES,
  MAX_PROBE_REPORT_NODES,
  PROBE_REPORT_TYPE,
  PROBE_REPORT_VERSION,
  type NodeMeasure,
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

export const invalid = /* @__PURE__ */ documentError("INVALID_PROBE_REPORT", "invalid probe report");
export const record = (value: unknown, what: string, keys: readonly string[]) => exactRecord(invalid, value, what, keys);
const uint = (value: unknown, what: string) => boundedUint(invalid, value, what);

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

/** One signed report from its parsed JSON (internal: the HTTP reader's entries). */
export function signedFrom(value: unknown): SignedProbeReport {
  const o = record(value, "signed report", ["report", "signature"]);
  if (typeof o.signature !== "string" || !isHexString(o.signature, 65)) throw invalid("signature must be 65 bytes hex");
  return { report: parseProbeReportDocument(o.report), signature: o.signature.toLowerCase() };
}

/** Decodes an encoded report; oversized, not JSON or not a report throws INVALID_PROBE_REPORT. The signature is checked by {@link verifyProbeReport}. */
export function decodeProbeReport(bytes: Uint8Array): SignedProbeReport {
  return signedFrom(boundedJson(invalid, bytes, MAX_PROBE_REPORT_BYTES));
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
