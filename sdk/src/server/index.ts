// Entry point `@status/mailserver-sdk/server` (Node-only): what a mail server runs in front of
// its requests: the access gate, the subscription index and its storage, native signature
// recovery. Request signing (the client side) is exported from the package root.
export {
  AccessGate,
  type AccessGateOptions,
  type AccessDecision,
  type AccessReason,
  type CheckContext,
  type SubscriptionLookup,
} from "../gate/accessGate.js";
export { ReplayGuard } from "../gate/replay.js";
export {
  SubscriptionIndex,
  type SubscriptionIndexOptions,
  type IndexEntry,
  type IndexSnapshot,
  type SyncResult,
} from "../gate/subscriptionIndex.js";
export { loadNativeRecovery } from "../gate/nativeRecovery.js";
