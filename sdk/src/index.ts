// Public API of @status/mailserver-sdk: the isomorphic root (browsers, React Native, Node).
//
// Everything exported here must bundle for a browser with no Node built-in, no native module and
// no polyfill (test/mocha/sdk-entrypoints.test.ts bundles it with esbuild and Vite). Node-only
// code has its own entry points:
//   @status/mailserver-sdk/discovery  (src/discovery/index.ts): discv5 node and crawler, selection with probes
//   @status/mailserver-sdk/server     (src/server/index.ts): access gate, subscription index, native recovery

export {
  MailserverSdkError,
  isSdkError,
  decodeContractError,
  toSdkError,
  isTransientError,
  isUserRejection,
  CONTRACT_ERROR_CODES,
  type ErrorCode,
  type ContractErrorCode,
  type DecodedContractError,
} from "./errors.js";
export { withRetry, type RetryOptions } from "./core/rpc.js";
export { DEPLOYMENTS, resolveDeployment, type Deployment, type DeploymentOverrides } from "./deployments.js";
export type { ClientOptions, ChainInfo } from "./core/chain.js";
export type { WriteResult } from "./core/tx.js";

export {
  MAILSERVER_KIND,
  kindId,
  normalizeNodeId,
  nodeIdFromPublicKey,
  nodeIdFromPrivateKey,
  nodeAddress,
  nodeKeyProofDomain,
  signNodeKeyProof,
  NODE_KEY_PROOF_TYPES,
  type NodeId,
  type NodeKeyProofRequest,
} from "./nodeKey.js";
export {
  parseEnr,
  isValidEnr,
  endpointOf,
  sameEndpoint,
  MAX_ENR_SIZE,
  type ParsedEnr,
  type EnrLike,
  type Endpoint,
  type EndpointAddress,
} from "./enr.js";
// Waku nodes: capabilities (`waku2`) mapped to registry kinds, relay shards, network filters.
export {
  WAKU2_CAPABILITIES,
  CAPABILITY_KINDS,
  STATUS_NETWORK,
  THE_WAKU_NETWORK,
  STATUS_PROD_ENRTREE,
  decodeWaku2,
  encodeWaku2,
  capabilityKinds,
  kindCapability,
  decodeRsv,
  encodeRs,
  type WakuCapability,
  type RelayShards,
} from "./waku/enrFields.js";
export {
  filterReason,
  matchesFilter,
  filterSource,
  type NodeFilter,
  type FilterReason,
  type FilteredOut,
  type FilteredSource,
} from "./filter.js";

export {
  RegistryClient,
  type ProviderStatus,
  type NodeStatus,
  type ProviderInfo,
  type NodeInfo,
  type NodeTrust,
  type Page,
  type PageOptions,
} from "./registry.js";
export { ProviderClient, type ApplyParams, type AddNodeParams, type AddNodeWithKey, type AddNodeWithProof } from "./provider.js";
export { CuratorClient, type AddProviderParams } from "./curator.js";
export {
  TrustPolicy,
  verifyNode,
  verifyNodes,
  type TrustPolicyOptions,
  type VerifiedNode,
  type NodeVerdict,
  type UntrustReason,
  type NodeInput,
  type VerifyOptions,
} from "./verify.js";

// Ranking nodes: trust, the trusted probes' measures and the signed offer against floors, then RTT
// (pure; the selector of the `/discovery` entry and `verifyNodes` use it).
export {
  rankNodes,
  resolveRankPolicy,
  offerFacts,
  DEFAULT_RANK_POLICY,
  type RankCandidate,
  type RankPolicy,
  type RankedNode,
  type RankStanding,
  type Ranking,
} from "./selection/rank.js";
// The selector with its probe injected (browser-safe; `/discovery`'s MailserverSelector injects
// the discv5 probe), and its pure steps.
export {
  NodeSelector,
  DEFAULT_GRAYLIST_MS,
  DEFAULT_PROBE_TIMEOUT_MS,
  type NodeSelectorOptions,
  type SelectOptions,
  type SelectorEvents,
  type VerifyFn,
} from "./selection/selector.js";
export { probeEach, type ProbeFn, type ProbeOneFn, type ProbeOptions, type ProbeResult, type ProbeTarget } from "./selection/probe.js";
export { partitionVerified, rankCandidates, drawFromBest, type PartitionOptions } from "./selection/choose.js";
export { Graylist, type FailureOutcome } from "./selection/graylist.js";
export type { Candidate, GraylistEntry, OffersFn, QualityFn, RejectedNode, SelectedNode, VerifiedNodeLike } from "./selection/types.js";

export {
  SubscriptionClient,
  type Quote,
  type SubscriptionState,
  type StoredSubscription,
  type Earnings,
  type PurchaseParams,
  type PurchaseResult,
} from "./subscriptions.js";
// Client-key consent, approveAndCall data and 64-byte node public keys (the escrow's and
// registry's ABIs since the client-key and node-id binding).
export { signClientConsent, clientConsentDomain, CLIENT_CONSENT_TYPES, type ClientConsent } from "./escrow/consent.js";
export { DEFAULT_RENEWAL_CYCLES, RENEWAL_WINDOW_SECONDS, type RenewalBlocker, type RenewalCheck } from "./escrow/renewal.js";
export type { SubscriptionClientOptions } from "./subscriptions.js";
// Subscription records (the escrow stores only a commitment to each; issue #15): the commitment
// computed locally, approveAndCall data, records folded from the escrow's events and receipts.
export {
  subscriptionCommitment,
  encodeApprovalRequest,
  encodeExtensionRequest,
  foldSubscriptionLogs,
  subscriptionFromReceipt,
  toStoredSubscription,
  EMPTY_SUBSCRIPTION,
  SUBSCRIPTION_RECORD_TYPE,
} from "./subscriptionRecord.js";
export { nodePublicKey, nodePublicKeyFromPrivateKey } from "./nodeKey.js";
export {
  TOKEN_ABI,
  APPROVE_AND_CALL_SELECTOR,
  PERMIT_SELECTOR,
  bytecodeHasSelector,
  detectTokenSupport,
  type PaymentPath,
  type TokenSupport,
} from "./token.js";

// Request signing (client side; the server that checks requests is in the `/server` entry).
export {
  signRequest,
  recoverRequestSigner,
  requestSigningHash,
  requestDigestOf,
  accessTypedDataDomain,
  REQUEST_TYPES,
  type AccessDomain,
  type SignedRequest,
  type RequestFields,
} from "./gate/request.js";
export { recoverInJs, type RecoverFn } from "./gate/recovery.js";
// Access grants (client side, isomorphic): one signature per connection.
export {
  signAccessGrant,
  encodeAccessGrant,
  decodeAccessGrant,
  grantSigningDigest,
  accessDomainSeparator,
  GRANT_TYPES,
  MAX_GRANT_TTL_SECONDS,
  MAX_GRANT_PEER_ID_BYTES,
  type AccessGrant,
  type AccessGrantFields,
} from "./gate/grant.js";

// EIP-1459 DNS discovery (isomorphic; the Node resolver is on the `/discovery` entry).
export * from "./dnsdisc/index.js";

// Discovery records (isomorphic): node-role keys in ENRs, building a node's ENR, static and
// registry sources and their merge. The discv5 node and crawler are in the `/discovery` entry.
export { SERVICE_KIND_ENR_KEY, MAILSERVER_KIND_NAME, encodeKinds, decodeKinds, enrKinds, enrHasKind } from "./sources/kind.js";
export {
  MAX_REGISTRY_RECORD_LENGTH,
  buildNodeEnr,
  recordSync,
  type BuildNodeEnrOptions,
  type NodeEnr,
  type RecordSyncOptions,
  type RecordSyncReason,
  type RecordSyncResult,
} from "./sources/publish.js";
export {
  StaticEnrSource,
  RegistrySource,
  combineSources,
  mergeEnrs,
  type CombinedSource,
  type DiscoverOptions,
  type DiscoveredNode,
  type DiscoveryResult,
  type DiscoverySource,
  type InvalidEnr,
  type RegisteredRecord,
  type RegistryRecordReader,
  type RegistrySourceOptions,
  type SkippedRecord,
  type SourceFailure,
} from "./sources/sources.js";

// Waku client side: present access grants to a mail server over the client's libp2p node.
export {
  ACCESS_PROTOCOL,
  AccessSession,
  accessGrantMaker,
  presentAccessGrant,
  type AccessAnswer,
  type AccessLibp2p,
  type AccessSessionOptions,
  type AccessStream,
  type EncodedGrant,
} from "./waku/access.js";
// Store answers an app acts on (pay, or try later) and a @waku/sdk client set up for one server.
export { storeRefusal, storeStatusOf, isRetryable } from "./waku/storeAnswers.js";
export { wakuClientOptions, type MailserverEndpoint, type WakuClientOptions } from "./waku/clientOptions.js";
// The field's paid-store envelope (RFC 73 / LIP-155): an access grant in store request field 30.
export {
  ELIGIBILITY_FIELD,
  MAX_ELIGIBILITY_PROOF_BYTES,
  STORE_QUERY_PROTOCOL,
  queryStoreWithProof,
  readEligibilityProof,
  readEligibilityStatus,
  withEligibilityProof,
  withEligibilityStatus,
  type EligibilityProofField,
  type EligibilityStatus,
  type StoreLibp2p,
  type StoreQueryAnswer,
} from "./waku/eligibility.js";

// Signed offers of mail servers (what a node sells), fetched over the client's libp2p node.
export * from "./offer/offer.js";

// Quality probes: signed reports of what independent probes measured of each mail server
// (availability, latency, completeness, retention), checked against the registry's trusted probes.
export * from "./quality/types.js";
export * from "./quality/report.js";
