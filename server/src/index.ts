// @status/mailserver-node: the reference mail server, as a library (the CLI is `mailserver-node`).
export { MailServerNode, pubsubTopicOf, METADATA_CODEC, DEFAULT_NODE_LIMITS, type MailServerNodeOptions, type NodeLimits, type RelayOptions } from "./node.js";
export { checkMessage, checkRelayData, isValidContentTopic, toArchived, DEFAULT_MESSAGE_RULES, type MessageRules, type Checked, type Refusal } from "./message.js";
export { WakuRelay, RELAY_CODEC, DEFAULT_RELAY_LIMITS, WAKU_TOPIC_SCORE, wakuGossipsubOptions, type RelayLimits, type RelayStats } from "./services/relay.js";
export { DEFAULT_PUSH_LIMITS, type PushLimits } from "./services/lightpush.js";
export { FreeConnectionPolicy, DEFAULT_FREE_CONNECTION_LIMITS, type FreeConnectionLimits } from "./connections.js";
export { InboundPriority, prioritizeInbound, DEFAULT_INBOUND_PRIORITY, type InboundPriorityLimits } from "./inboundPriority.js";
export { ArchiveWriter, DEFAULT_INGEST_LIMITS, type IngestLimits, type IngestStats } from "./ingest.js";
export { RateLimiter, type RateLimit } from "./rateLimit.js";
export { ACCESS_CODEC, presentEncodedGrant, type GrantGate, type GrantAnswer } from "./access.js";
export { AdmissionPolicy, PriorityScheduler, DEFAULT_ADMISSION_LIMITS, SHED_STATUS, UNAVAILABLE_STATUS, type AdmissionLimits, type SpareCapacity, type ServiceMode, type Admission, type ServiceClass } from "./admission.js";
export type { Archive, ArchivedMessage, ArchiveQuery, ArchivePage, ArchiveStats, RetentionPolicy } from "./archive/archive.js";
export { ArchiveFullError, UnknownCursorError, MESSAGE_OVERHEAD_BYTES } from "./archive/archive.js";
export { EventLoopLoad } from "./load.js";
export { libp2pLogger } from "./libp2pLogger.js";
export { SqliteArchive } from "./archive/sqlite.js";
export type { CheckpointResult } from "./archive/maintenance.js";
export { answerStoreQuery, STORE_CODEC, StoreStatus, DEFAULT_STORE_LIMITS, type StoreLimits } from "./store.js";
export { LIGHTPUSH_V2_CODEC, LIGHTPUSH_V3_CODEC, PushStatus, type PushOutcome } from "./lightpush.js";
export { jsonLogger, silentLogger, type Logger, type LogLevel } from "./log.js";
export { PostgresArchive, DEFAULT_PG_TIMEOUT_MS, type PostgresOptions } from "./archive/postgres.js";
export { loadConfig, parseConfig, ConfigError, DEFAULT_RETENTION, type ServerConfig, type ArchiveConfig, type DiscoveryConfig, type OfferConfig } from "./config.js";
export { startServer, type RunningServer } from "./app.js";
export { OFFER_CODEC, OfferService, type OfferInit } from "./services/offer.js";
export { offerFields, SOFTWARE, type OfferTerms, type OfferNodeFacts } from "./offer.js";
export { readNodeKey } from "./keyFile.js";
export {
  StoreResume, queryStore, checkResumed, readLastOnline, writeLastOnline, StoreClientError, DEFAULT_RESUME_LIMITS,
  type StoreResumeInit, type ResumeLimits, type ResumeReport, type ResumeStop, type RejectReason, type Dial, type StoreQueryOptions, type ResumedCheck,
} from "./resume.js";
export type { DuplexStream, Chunk } from "./streams.js";
export { AnswerCounters, renderMetrics, startMetricsServer, type MetricsServer, type MetricsSources } from "./metrics.js";
export { RpcMonitor, WatchedProvider, type RpcState, type RpcStateName } from "./rpc.js";
// The quality probe (`mailserver-probe`): measures mail servers as an outsider, signs and publishes reports.
export { Probe, MARKER_CONTENT_TOPIC, type ProbeInit, type ProbeSettings, type Marker, type NodeRound, type RoundResult } from "./probe/probe.js";
export { loadProbeConfig, parseProbeConfig, type ProbeConfig, type ProbeTargetConfig } from "./probe/config.js";
export { startProbe, createProbeLibp2p, type RunningProbe, type StartProbeOptions } from "./probe/run.js";
export { registryTargets, recordAddresses, type ProbeTarget } from "./probe/targets.js";
export { startReportsHttp, type ReportsHttp } from "./probe/http.js";
export { askMetadata, cheapQuery, presentHashes, pushMessage, countingDial, type Traffic } from "./probe/clients.js";
export { exchange, RequestError, type RequestOptions } from "./exchange.js";
