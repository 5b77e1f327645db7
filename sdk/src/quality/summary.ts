// The per-node quality folded from verified probe reports. Isomorphic.
import { DEFAULT_QUALITY_WINDOW_SECONDS } from "./document.js";
import type { NodeQuality, ProbeReportDocument } from "./types.js";

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
