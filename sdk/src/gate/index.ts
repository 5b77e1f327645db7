// The server side of access (Node-only: native signature recovery, SQLite storage). The
// `@status/mailserver-sdk/server` entry re-exports this barrel.
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
export { ESCROW_EVENT_TOPICS, decodeEscrowLog, type EscrowEvent, type RawLog } from "./escrowLogs.js";
