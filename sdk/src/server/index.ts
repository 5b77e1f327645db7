// Entry point `@status/mailserver-sdk/server` (Node-only): what a mail server runs in front of
// its requests: the access gate with its grants, the subscription index and its SQLite storage,
// native signature recovery. Everything under server/ is server-side and may need Node; the
// isomorphic root never imports from here. Request and grant signing (the client side, also
// checked here) are in gate/ and exported from the package root.
export {
  AccessGate,
  type AccessGateOptions,
  type AccessDecision,
  type AccessReason,
  type GrantDecision,
  type GateHealth,
  type GateMode,
  type GateModeChange,
  type CheckContext,
  type SubscriptionLookup,
} from "./accessGate.js";
export { loadNativeRecovery, loadNativeRecoverBytes } from "./nativeRecovery.js";
export { ReplayGuard } from "./replay.js";
export { GrantStore, type HeldGrant } from "./grantStore.js";
export {
  SubscriptionIndex,
  type SubscriptionIndexOptions,
  type IndexEntry,
  type IndexSnapshot,
  type IndexFreshness,
  type SyncResult,
} from "./subscriptionIndex.js";
export { ESCROW_EVENT_TOPICS, decodeEscrowLog, type EscrowEvent, type RawLog } from "../gate/escrowLogs.js";
