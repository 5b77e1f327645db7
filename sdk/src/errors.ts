import { Interface, isHexString, type ErrorDescription } from "ethers";
import { findInError, SKIP } from "./core/errorWalk.js";
import { escrowInterface, registryInterface } from "./core/contracts.js";

/**
 * Stable error codes for every custom error the contracts (and the OpenZeppelin code they build
 * on) can revert with, keyed by the Solidity error name. A table rather than a computed
 * CamelCase -> SNAKE_CASE conversion so that codes never change by accident and show up in the
 * `ErrorCode` type.
 */
export const CONTRACT_ERROR_CODES = {
  // Shared by the registry and the escrow.
  ZeroAddress: "ZERO_ADDRESS",
  NotNodeProvider: "NOT_NODE_PROVIDER",
  // Registry.
  EmptyName: "EMPTY_NAME",
  NameTooLong: "NAME_TOO_LONG",
  MetadataURITooLong: "METADATA_URI_TOO_LONG",
  EmptyRecord: "EMPTY_RECORD",
  RecordTooLong: "RECORD_TOO_LONG",
  ZeroKind: "ZERO_KIND",
  InvalidPublicKeyLength: "INVALID_PUBLIC_KEY_LENGTH",
  NodeHasPaidSubscriptions: "NODE_HAS_PAID_SUBSCRIPTIONS",
  EscrowAlreadySet: "ESCROW_ALREADY_SET",
  InvalidProviderStatus: "INVALID_PROVIDER_STATUS",
  ProviderNotApproved: "PROVIDER_NOT_APPROVED",
  ProviderIsRemoved: "PROVIDER_IS_REMOVED",
  KindNotEnabled: "KIND_NOT_ENABLED",
  KindAlreadyInState: "KIND_ALREADY_IN_STATE",
  NodeAlreadyRegistered: "NODE_ALREADY_REGISTERED",
  UnknownNode: "UNKNOWN_NODE",
  NodeIsRemoved: "NODE_IS_REMOVED",
  NodeAlreadyInState: "NODE_ALREADY_IN_STATE",
  ProofExpired: "PROOF_EXPIRED",
  InvalidNodeKeyProof: "INVALID_NODE_KEY_PROOF",
  PageLimitTooLarge: "PAGE_LIMIT_TOO_LARGE",
  // Escrow.
  InvalidMonths: "INVALID_MONTHS",
  NodeNotTrusted: "NODE_NOT_TRUSTED",
  PriceAboveMaximum: "PRICE_ABOVE_MAXIMUM",
  AmountTooLarge: "AMOUNT_TOO_LARGE",
  SubscriptionIsActive: "SUBSCRIPTION_IS_ACTIVE",
  NoSubscription: "NO_SUBSCRIPTION",
  // The record passed is not the one stored (stale: the subscription changed since it was read).
  SubscriptionRecordMismatch: "SUBSCRIPTION_RECORD_MISMATCH",
  SubscriptionNotActive: "SUBSCRIPTION_NOT_ACTIVE",
  NotSubscriptionOwner: "NOT_SUBSCRIPTION_OWNER",
  ClientIdTaken: "CLIENT_ID_TAKEN",
  CallerNotToken: "CALLER_NOT_TOKEN",
  WrongToken: "WRONG_TOKEN",
  ApprovedAmountMismatch: "APPROVED_AMOUNT_MISMATCH",
  InvalidApprovalData: "INVALID_APPROVAL_DATA",
  ReceivedAmountMismatch: "RECEIVED_AMOUNT_MISMATCH",
  TokenTransferFailed: "TOKEN_TRANSFER_FAILED",
  FeeTooHigh: "FEE_TOO_HIGH",
  NotAProvider: "NOT_A_PROVIDER",
  NothingToWithdraw: "NOTHING_TO_WITHDRAW",
  RenewalNotPossible: "RENEWAL_NOT_POSSIBLE",
  NotCurator: "NOT_CURATOR",
  ExpiryTooFar: "EXPIRY_TOO_FAR",
  LengthMismatch: "LENGTH_MISMATCH",
  CancellationFeeAboveMaximum: "CANCELLATION_FEE_ABOVE_MAXIMUM",
  ClientConsentExpired: "CLIENT_CONSENT_EXPIRED",
  InvalidClientConsent: "INVALID_CLIENT_CONSENT",
  // OpenZeppelin: AccessControl (+ DefaultAdminRules), Pausable, ReentrancyGuard, SafeERC20,
  // ERC20 / ERC20Permit / Nonces, ECDSA, SafeCast.
  AccessControlUnauthorizedAccount: "ACCESS_CONTROL_UNAUTHORIZED_ACCOUNT",
  AccessControlBadConfirmation: "ACCESS_CONTROL_BAD_CONFIRMATION",
  AccessControlInvalidDefaultAdmin: "ACCESS_CONTROL_INVALID_DEFAULT_ADMIN",
  AccessControlEnforcedDefaultAdminRules: "ACCESS_CONTROL_ENFORCED_DEFAULT_ADMIN_RULES",
  AccessControlEnforcedDefaultAdminDelay: "ACCESS_CONTROL_ENFORCED_DEFAULT_ADMIN_DELAY",
  EnforcedPause: "ENFORCED_PAUSE",
  ExpectedPause: "EXPECTED_PAUSE",
  ReentrancyGuardReentrantCall: "REENTRANCY_GUARD_REENTRANT_CALL",
  SafeERC20FailedOperation: "SAFE_ERC20_FAILED_OPERATION",
  SafeERC20FailedDecreaseAllowance: "SAFE_ERC20_FAILED_DECREASE_ALLOWANCE",
  ERC20InsufficientBalance: "ERC20_INSUFFICIENT_BALANCE",
  ERC20InsufficientAllowance: "ERC20_INSUFFICIENT_ALLOWANCE",
  ERC20InvalidSender: "ERC20_INVALID_SENDER",
  ERC20InvalidReceiver: "ERC20_INVALID_RECEIVER",
  ERC20InvalidApprover: "ERC20_INVALID_APPROVER",
  ERC20InvalidSpender: "ERC20_INVALID_SPENDER",
  ERC2612ExpiredSignature: "ERC2612_EXPIRED_SIGNATURE",
  ERC2612InvalidSigner: "ERC2612_INVALID_SIGNER",
  InvalidAccountNonce: "INVALID_ACCOUNT_NONCE",
  ECDSAInvalidSignature: "ECDSA_INVALID_SIGNATURE",
  ECDSAInvalidSignatureLength: "ECDSA_INVALID_SIGNATURE_LENGTH",
  ECDSAInvalidSignatureS: "ECDSA_INVALID_SIGNATURE_S",
  SafeCastOverflowedUintDowncast: "SAFE_CAST_OVERFLOWED_UINT_DOWNCAST",
} as const;

/** A code for a decoded contract custom error. */
export type ContractErrorCode = (typeof CONTRACT_ERROR_CODES)[keyof typeof CONTRACT_ERROR_CODES];

/** Every code a `MailserverSdkError` can carry. */
export type ErrorCode =
  | "WRONG_CHAIN"
  | "MISSING_ADDRESS"
  | "UNTRUSTED_NODE"
  | "UNKNOWN_NODE"
  | "PRICE_ABOVE_MAXIMUM"
  | "INSUFFICIENT_BALANCE"
  | "INSUFFICIENT_ALLOWANCE"
  | "INVALID_ENR"
  | "INVALID_ARGUMENT"
  | "RPC_UNAVAILABLE"
  // An RPC call that neither answered nor failed within its deadline (details.timeoutMs).
  | "RPC_TIMEOUT"
  // The wallet's user declined to sign (EIP-1193 code 4001, ethers ACTION_REJECTED).
  | "USER_REJECTED"
  | "CONTRACT_ERROR"
  // An access grant that does not decode.
  | "INVALID_GRANT"
  // Node selection: no usable node at all / the pinned node is down or graylisted.
  | "NO_NODE_AVAILABLE"
  | "NODE_UNAVAILABLE"
  // A mail server refused the access grant presented to it (details.reason says why).
  | "ACCESS_REFUSED"
  // EIP-1459 DNS trees: a root that is malformed or not signed by the URL's key / whose seq went
  // backwards / a TXT lookup that failed.
  | "DNS_TREE_INVALID"
  | "DNS_TREE_STALE"
  | "DNS_LOOKUP_FAILED"
  // A subscription is stored but no escrow event from the scanned blocks gives its record
  // (details.fromBlock: start the scan earlier, e.g. at the escrow's deployment block).
  | "SUBSCRIPTION_RECORD_NOT_FOUND"
  // A mail server's offer that is oversized, not JSON or not a well-formed offer document.
  | "INVALID_OFFER"
  // A probe's quality report (or a list of them) that is oversized, not JSON or not a well-formed report.
  | "INVALID_PROBE_REPORT"
  | ContractErrorCode;

/** The only error type the SDK throws. Switch on `code`; `details` holds the facts behind it. */
export class MailserverSdkError extends Error {
  override readonly name = "MailserverSdkError";
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

/** Type guard, optionally for one code. */
export function isSdkError(error: unknown, code?: ErrorCode): error is MailserverSdkError {
  return error instanceof MailserverSdkError && (code === undefined || error.code === code);
}

// OpenZeppelin errors that can bubble out of the contracts but are not part of their interfaces.
const OZ_ERRORS = new Interface([
  "error AccessControlUnauthorizedAccount(address account, bytes32 neededRole)",
  "error AccessControlBadConfirmation()",
  "error AccessControlInvalidDefaultAdmin(address defaultAdmin)",
  "error AccessControlEnforcedDefaultAdminRules()",
  "error AccessControlEnforcedDefaultAdminDelay(uint48 schedule)",
  "error EnforcedPause()",
  "error ExpectedPause()",
  "error ReentrancyGuardReentrantCall()",
  "error SafeERC20FailedOperation(address token)",
  "error SafeERC20FailedDecreaseAllowance(address spender, uint256 currentAllowance, uint256 requestedDecrease)",
  "error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)",
  "error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)",
  "error ERC20InvalidSender(address sender)",
  "error ERC20InvalidReceiver(address receiver)",
  "error ERC20InvalidApprover(address approver)",
  "error ERC20InvalidSpender(address spender)",
  "error ERC2612ExpiredSignature(uint256 deadline)",
  "error ERC2612InvalidSigner(address signer, address owner)",
  "error InvalidAccountNonce(address account, uint256 currentNonce)",
  "error ECDSAInvalidSignature()",
  "error ECDSAInvalidSignatureLength(uint256 length)",
  "error ECDSAInvalidSignatureS(bytes32 s)",
  "error SafeCastOverflowedUintDowncast(uint8 bits, uint256 value)",
]);

/** The interfaces revert data is decoded against (made on first use). */
const decoders = (): readonly Interface[] => [registryInterface(), escrowInterface(), OZ_ERRORS];

/** What `decodeContractError` found in revert data. */
export interface DecodedContractError {
  /** Solidity error name, e.g. `NodeAlreadyRegistered`, or `Error` / `Panic` for the built-ins. */
  name: string;
  /** 4-byte selector. */
  selector: string;
  /** Arguments by parameter name. */
  args: Record<string, unknown>;
  /** The SDK code, CONTRACT_ERROR for built-ins and errors the SDK does not know. */
  code: ErrorCode;
}

// Ethers' built-in Error(string) and Panic(uint256) have unnamed parameters.
const BUILTIN_ARG_NAMES: Record<string, string> = { Error: "reason", Panic: "panicCode" };

function argsByName(description: ErrorDescription): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  description.fragment.inputs.forEach((input, i) => {
    const name = input.name !== "" ? input.name : (BUILTIN_ARG_NAMES[description.name] ?? String(i));
    args[name] = description.args[i];
  });
  return args;
}

/**
 * Decode revert data (hex) against the registry, escrow and OpenZeppelin errors. Returns
 * undefined for empty or unknown data.
 */
export function decodeContractError(data: string): DecodedContractError | undefined {
  if (!isHexString(data) || data.length < 10) return undefined;
  for (const iface of decoders()) {
    let description: ErrorDescription | null;
    try {
      description = iface.parseError(data);
    } catch {
      // Known selector but undecodable arguments: keep looking, then give up.
      continue;
    }
    if (description === null) continue;
    const name = description.name;
    const code: ErrorCode =
      (CONTRACT_ERROR_CODES as Record<string, ContractErrorCode>)[name] ?? "CONTRACT_ERROR";
    return { name, selector: description.selector, args: argsByName(description), code };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Turning anything thrown into a MailserverSdkError.
// ---------------------------------------------------------------------------------------------

const TRANSIENT_ETHERS_CODES = new Set(["NETWORK_ERROR", "TIMEOUT", "SERVER_ERROR"]);
const TRANSIENT_NODE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

function fieldOf(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

// Node's fetch says "fetch failed"; browsers say "Failed to fetch" (Chromium), "NetworkError when
// attempting to fetch resource." (Firefox) or "Load failed" (Safari).
const TRANSIENT_MESSAGE = /fetch failed|failed to fetch|networkerror|load failed|socket hang up|network error|ECONNREFUSED|ECONNRESET/i;

/**
 * Whether an error looks like a network failure worth retrying (not a revert, not a bad
 * argument). Looks through nested `error` / `cause` / `info` fields since providers wrap errors.
 */
export function isTransientError(error: unknown): boolean {
  return (
    findInError(error, ["error", "cause", "info"], (node) => {
      const code = node.code;
      if (code === "CALL_EXCEPTION") return SKIP;
      if (typeof code === "string" && (TRANSIENT_ETHERS_CODES.has(code) || TRANSIENT_NODE_CODES.has(code))) return true;
      return typeof node.message === "string" && TRANSIENT_MESSAGE.test(node.message) ? true : undefined;
    }) ?? false
  );
}

/** Whether the wallet's user declined the request (EIP-1193 4001 / ethers ACTION_REJECTED), however wrapped. */
export function isUserRejection(error: unknown): boolean {
  return findInError(error, ["error", "cause", "info"], (node) => (node.code === "ACTION_REJECTED" || node.code === 4001 ? true : undefined)) ?? false;
}

/** Find revert data in whatever shape a provider or library wrapped it. */
export function findRevertData(error: unknown): string | undefined {
  return findInError(error, ["data", "error", "cause", "info", "revert"], (node) => (typeof node.data === "string" && isHexString(node.data) && node.data.length >= 10 ? node.data : undefined));
}

function reasonOf(error: unknown): string | undefined {
  const reason = fieldOf(error, "reason") ?? fieldOf(error, "shortMessage") ?? fieldOf(error, "message");
  return typeof reason === "string" ? reason : undefined;
}

/**
 * Convert anything thrown by ethers, a provider or the contracts into a MailserverSdkError:
 * decoded custom errors get their own code and arguments, network failures RPC_UNAVAILABLE,
 * everything else CONTRACT_ERROR. SDK errors pass through unchanged.
 */
export function toSdkError(error: unknown, context: string): MailserverSdkError {
  if (error instanceof MailserverSdkError) return error;
  if (isUserRejection(error)) return new MailserverSdkError("USER_REJECTED", `${context}: rejected in the wallet`, { cause: error });
  const data = findRevertData(error);
  const decoded = data === undefined ? undefined : decodeContractError(data);
  if (decoded !== undefined) {
    const label = decoded.code === "CONTRACT_ERROR" ? `${decoded.name}` : decoded.code;
    return new MailserverSdkError(decoded.code, `${context}: reverted with ${label}`, {
      details: { contractError: decoded.name, selector: decoded.selector, ...decoded.args },
      cause: error,
    });
  }
  if (isTransientError(error)) {
    return new MailserverSdkError("RPC_UNAVAILABLE", `${context}: RPC unavailable (${reasonOf(error) ?? "network error"})`, {
      cause: error,
    });
  }
  return new MailserverSdkError("CONTRACT_ERROR", `${context}: ${reasonOf(error) ?? String(error)}`, {
    details: data === undefined ? {} : { data },
    cause: error,
  });
}
