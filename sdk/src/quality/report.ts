// Signed quality reports of independent probes: the public face of quality/ (the document, the
// per-node summary, the readers). The helpers document.ts shares with sources.ts stay internal.
export {
  canonicalProbeReportBytes,
  decodeProbeReport,
  DEFAULT_PROBE_REPORT_MAX_AGE_SECONDS,
  DEFAULT_QUALITY_WINDOW_SECONDS,
  encodeProbeReport,
  MAX_PROBE_REPORTS_HTTP_BYTES,
  parseProbeReportDocument,
  signProbeReport,
  verifyProbeReport,
  type ProbeReportFields,
  type ProbeReportRejection,
  type ProbeReportVerdict,
  type VerifyProbeReportOptions,
} from "./document.js";
export * from "./summary.js";
export * from "./sources.js";
