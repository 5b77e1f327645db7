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
// Server side (Node-only; to move to the `/server` entry): see ./gate/index.ts.
export * from "./gate/index.js";

export * from "./discovery/index.js";
export * from "./selection/index.js";
