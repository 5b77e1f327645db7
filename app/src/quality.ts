// What the page knows of each server beyond the registry: its signed offer (read over HTTP from
// the configured offer URLs) and the trusted probes' reports (read from the configured report
// URLs, each verified against the registry's trusted probes). Both are help, not conditions: a
// URL that does not answer is reported and the servers are still listed.
import {
  fetchOfferHttp,
  fetchProbeReportsHttp,
  summarizeReports,
  trustedProbeIds,
  verifyProbeReport,
  type NodeQuality,
  type ProbeReportDocument,
  type SignedOffer,
} from "@status/mailserver-sdk";
import type { AppConfig } from "./config.js";
import type { Reads } from "./mailservers.js";

const DEFAULT_TIMEOUT_MS = 5000;

export interface Offers {
  /** Signed offers as read (verified by `verifyNodes` against the registry). */
  signed: Map<string, SignedOffer>;
  /** Why an offer could not be read, by node id. */
  unreadable: Map<string, string>;
}

/** Reads the offers of `nodeIds` that have a configured URL, all at once, each with a deadline. */
export async function readOffers(config: AppConfig, nodeIds: readonly string[]): Promise<Offers> {
  const urls = new Map(Object.entries(config.offerUrls ?? {}).map(([id, url]) => [id.toLowerCase(), url]));
  const signed = new Map<string, SignedOffer>();
  const unreadable = new Map<string, string>();
  await Promise.all(
    nodeIds.map(async (nodeId) => {
      const url = urls.get(nodeId);
      if (url === undefined) return;
      try {
        signed.set(nodeId, await fetchOfferHttp(url, { timeoutMs: config.fetchTimeoutMs ?? DEFAULT_TIMEOUT_MS }));
      } catch (error) {
        unreadable.set(nodeId, error instanceof Error ? error.message : String(error));
      }
    }),
  );
  return { signed, unreadable };
}

export interface Quality {
  byNode: Map<string, NodeQuality>;
  /** Reports that counted, and the trusted probes that signed them. */
  counted: number;
  /** Reports refused, with why (forged, untrusted probe, stale, other chain…). */
  refused: { url: string; probe: string; reason: string }[];
  /** Report URLs that did not answer. */
  failed: { url: string; error: string }[];
  windowSeconds: number;
}

/**
 * Reads every configured report URL, keeps the reports of the registry's trusted probes (kind
 * "probe", approved provider) that verify, and folds them per node over the window.
 */
export async function readQuality(reads: Reads, config: AppConfig): Promise<Quality | undefined> {
  const urls = config.quality?.reportUrls ?? [];
  if (urls.length === 0) return undefined;
  const windowSeconds = config.quality?.windowSeconds ?? 86_400;
  const [trustedProbes, ...answers] = await Promise.all([
    trustedProbeIds(reads.registry),
    ...urls.map(async (url) => {
      try {
        return { url, reports: await fetchProbeReportsHttp(url, { timeoutMs: config.fetchTimeoutMs ?? DEFAULT_TIMEOUT_MS }) };
      } catch (error) {
        return { url, error: error instanceof Error ? error.message : String(error) };
      }
    }),
  ]);
  const accepted: ProbeReportDocument[] = [];
  const refused: Quality["refused"] = [];
  const failed: Quality["failed"] = [];
  for (const answer of answers) {
    if (answer.error !== undefined || answer.reports === undefined) {
      failed.push({ url: answer.url, error: answer.error ?? "no answer" });
      continue;
    }
    for (const signed of answer.reports) {
      const verdict = verifyProbeReport(signed, { trustedProbes, chainId: config.chainId, registry: config.addresses.registry });
      if (verdict.ok) accepted.push(verdict.report);
      else refused.push({ url: answer.url, probe: signed.report.probeNodeId, reason: `${verdict.reason}: ${verdict.detail}` });
    }
  }
  return { byNode: summarizeReports(accepted, { windowSeconds }), counted: accepted.length, refused, failed, windowSeconds };
}
