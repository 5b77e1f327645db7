// Public API of @status/mailserver-sdk.

export {
  MailserverSdkError,
  isSdkError,
  decodeContractError,
  toSdkError,
  isTransientError,
  CONTRACT_ERROR_CODES,
  type ErrorCode,
  type ContractErrorCode,
  type DecodedContractError,
} from "./errors.js";
export { withRetry, type RetryOptions } from "./rpc.js";
export { DEPLOYMENTS, resolveDeployment, type Deployment, type DeploymentOverrides } from "./deployments.js";
export type { ClientOptions, ChainInfo } from "./chain.js";
export type { WriteResult } from "./tx.js";

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
export { parseEnr, isValidEnr, endpointOf, sameEndpoint, type ParsedEnr, type EnrLike, type Endpoint } from "./enr.js";

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

export {
  SubscriptionClient,
  type Quote,
  type SubscriptionState,
  type StoredSubscription,
  type Earnings,
  type RenewalBlocker,
  type RenewalCheck,
  type PurchaseParams,
  type PurchaseResult,
} from "./subscriptions.js";
export {
  TOKEN_ABI,
  APPROVE_AND_CALL_SELECTOR,
  PERMIT_SELECTOR,
  bytecodeHasSelector,
  detectTokenSupport,
  type PaymentPath,
  type TokenSupport,
} from "./token.js";

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
export { loadNativeRecovery, recoverInJs, type RecoverFn } from "./gate/recovery.js";
export {
  AccessGate,
  type AccessGateOptions,
  type AccessDecision,
  type AccessReason,
  type CheckContext,
  type SubscriptionLookup,
} from "./gate/accessGate.js";
export { ReplayGuard } from "./gate/replay.js";
export {
  SubscriptionIndex,
  type SubscriptionIndexOptions,
  type IndexEntry,
  type IndexSnapshot,
  type SyncResult,
} from "./gate/subscriptionIndex.js";

export * from "./discovery/index.js";
export * from "./selection/index.js";

// Waku client side: present access grants to a mail server over the client's libp2p node.
export {
  ACCESS_PROTOCOL,
  AccessSession,
  presentAccessGrant,
  type AccessAnswer,
  type AccessLibp2p,
  type AccessSessionOptions,
  type AccessStream,
  type EncodedGrant,
} from "./waku/access.js";
