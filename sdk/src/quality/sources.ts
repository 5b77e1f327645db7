// Where probe reports come from: the registry's trusted probes, a probe's HTTP answer, and any
// Waku store node by content topic. Isomorphic, no dependency on @waku/sdk (a light node is passed in).
import { boundedJson } from "../core/document.js";
import { fetchBoundedBody } from "../core/httpBody.js";
import { MailserverSdkError } from "../errors.js";
import type { RegistryClient } from "../registry.js";
import { verifyNodes, type TrustPolicy } from "../verify.js";
import {
  decodeProbeReport,
  DEFAULT_PROBE_REPORT_MAX_AGE_SECONDS,
  encodeProbeReport,
  invalid,
  MAX_PROBE_REPORTS_HTTP_BYTES,
  record,
  signedFrom,
} from "./document.js";
import { PROBE_KIND_NAME, PROBE_REPORT_CONTENT_TOPIC, type SignedProbeReport } from "./types.js";

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
  const maxBytes = options.maxBytes ?? MAX_PROBE_REPORTS_HTTP_BYTES;
  const bytes = await fetchBoundedBody(url, {
    timeoutMs: options.timeoutMs ?? 10_000,
    maxBytes,
    ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
    what: "the probe's reports",
    tooLarge: (message, size) => invalid(message, { size }),
  });
  const list = record(boundedJson(invalid, bytes, maxBytes), "answer", ["reports"]).reports;
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
