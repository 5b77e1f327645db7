// Quality reports: what an independent probe measured of mail servers, and the per-node summary
// the SDK folds from the reports of the probes an app trusts. Types and constants only, shared by
// the probe (server package, `mailserver-probe`), report verification and ranking. Isomorphic.
//
// A probe is a node of kind PROBE_KIND_NAME in the registry: a provider runs it, curators vouch
// for it as they vouch for providers, and its node key signs its reports. A report is signed like
// an offer (EIP-191 by the probe's node key over the canonical JSON of the document, fields in the
// order of these interfaces), so ecrecover of it must give the probe's registered node address.

/** Registry kind name of a quality probe (its kind id is keccak256 of this name). */
export const PROBE_KIND_NAME = "probe";
/** Tag that makes a report signature useless as any other personal_sign message. */
export const PROBE_REPORT_TYPE = "status-mailserver-probe-report";
/** The only report version this SDK reads. */
export const PROBE_REPORT_VERSION = 1;
/**
 * Waku content topic reports are published on, so every store node of the network (ours or not)
 * keeps them and anyone can read them without trusting a server of ours.
 */
export const PROBE_REPORT_CONTENT_TOPIC = "/status-mailserver/1/probe-report/json";
/** Largest encoded signed report, bytes (well under Waku's 150 KiB message bound). */
export const MAX_PROBE_REPORT_BYTES = 64 * 1024;
/** Most nodes one report may cover. */
export const MAX_PROBE_REPORT_NODES = 256;

/** What one probe measured of one node over the report's period. Counts, never ratios, so reports add up. */
export interface NodeMeasure {
  /** Registry node id (32 bytes hex, lower case). */
  nodeId: string;
  /** Dial + metadata answered within the probe's deadline (with its retries): attempts, and how many succeeded. */
  availability: { attempts: number; successes: number };
  /** Round-trip time of a cheap store query, milliseconds; p50/p99 null when no sample succeeded. */
  latencyMs: { samples: number; p50: number | null; p99: number | null };
  /**
   * The probe's own marker messages, published through the network and asked of the node by hash:
   * how many were due (old enough to have arrived), how many were found, and the median time from
   * publication to first found (null when none was found).
   */
  completeness: { markers: number; found: number; medianDelayMs: number | null };
  /**
   * Retention against the node's offer: markers younger than the advertised retention that were
   * checked and found missing (dropped early), and markers older than it still served (informative).
   */
  retention: { checked: number; droppedEarly: number; keptPastAdvertised: number };
}

/** The signed document, in canonical field order. */
export interface ProbeReportDocument {
  type: typeof PROBE_REPORT_TYPE;
  version: typeof PROBE_REPORT_VERSION;
  /** The probe's registry node id (32 bytes hex): the signer. */
  probeNodeId: string;
  chainId: number;
  /** Registry address (checksummed) the probe took its node list from. */
  registry: string;
  /** Unix seconds: the period the measures cover, and when it was signed. */
  periodStart: number;
  periodEnd: number;
  issuedAt: number;
  nodes: NodeMeasure[];
}

export interface SignedProbeReport {
  report: ProbeReportDocument;
  /** 65-byte EIP-191 signature by the probe's node key, 0x hex. */
  signature: string;
}

/**
 * One node's quality, folded from the verified reports of trusted probes over a window. Ratios are
 * null when there was nothing to measure (no attempt, no due marker): unknown is not bad.
 */
export interface NodeQuality {
  nodeId: string;
  /** Probe node ids whose reports were counted. */
  probes: string[];
  /** Reports counted. */
  reports: number;
  /** Unix seconds covered: earliest periodStart, latest periodEnd. */
  period: { from: number; to: number };
  /** successes / attempts, 0..1. */
  availability: number | null;
  /** found / markers, 0..1. */
  completeness: number | null;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  /** Markers dropped before the advertised retention (0 is what the offer promises). */
  droppedEarly: number;
}
