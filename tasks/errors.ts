// What a task prints when a contract refuses: one plain sentence saying what is wrong and what to
// do, never a Solidity error name. Tasks check the usual cases before sending anything; these
// sentences cover what slips through (a race with another transaction, an unusual state).
import type { ErrorCode } from "@status/mailserver-sdk";

const PROVIDER_STATUSES = ["not a provider", "pending", "approved", "suspended", "removed"] as const;

const providerStatus = (value: unknown) => PROVIDER_STATUSES[Number(value)] ?? `in status ${String(value)}`;
const short = (value: unknown) => String(value);

type Sentence = (args: Record<string, unknown>) => string;

const SENTENCES: Partial<Record<ErrorCode, Sentence>> = {
  INVALID_PROVIDER_STATUS: (a) =>
    Number(a.current) === 0
      ? `${short(a.provider)} is not a provider of this registry: apply first (npx hardhat provider apply --name ...)`
      : `provider ${short(a.provider)} is ${providerStatus(a.current)}, which does not allow this: a provider applies once, a curator approves a pending provider, suspends an approved one and reinstates a suspended one`,
  PROVIDER_NOT_APPROVED: (a) =>
    `provider ${short(a.provider)} is ${providerStatus(a.current)}, not approved: a curator must approve it first (npx hardhat curator approve ${short(a.provider)})`,
  PROVIDER_IS_REMOVED: (a) => `provider ${short(a.provider)} was removed by a curator and can no longer change anything`,
  KIND_NOT_ENABLED: (a) => `node kind ${short(a.kind)} is not enabled in this registry: a curator enables it (npx hardhat curator kind <name> --new)`,
  KIND_ALREADY_IN_STATE: (a) => `this node kind is already ${a.enabled === true ? "enabled" : "disabled"}`,
  NODE_ALREADY_REGISTERED: (a) => `node ${short(a.nodeId)} is already registered (a node id is registered once: make a new node key for a new node)`,
  UNKNOWN_NODE: (a) => `no node ${short(a.nodeId)} in this registry: check the node id (npx hardhat provider nodes lists yours)`,
  NODE_IS_REMOVED: (a) => `node ${short(a.nodeId)} was removed and can no longer change`,
  NODE_ALREADY_IN_STATE: (a) => `node ${short(a.nodeId)} is already ${a.active === true ? "active" : "inactive"}`,
  NOT_NODE_PROVIDER: (a) =>
    `node ${short(a.nodeId)} belongs to another provider${a.provider !== undefined ? ` (${short(a.provider)})` : ""}: sign with its provider's account (--account)`,
  INVALID_NODE_KEY_PROOF: () => "the node key does not match the node's record: pass the key file of the node whose ENR you register",
  PROOF_EXPIRED: () => "the node key proof expired before the transaction was mined: run the command again",
  NODE_HAS_PAID_SUBSCRIPTIONS: (a) => `node ${short(a.nodeId)} still has paid subscriptions running: deactivate it instead, or wait until they end`,
  ACCESS_CONTROL_UNAUTHORIZED_ACCOUNT: (a) => `${short(a.account)} does not have the role this needs: sign with a curator's or the admin's account (--account)`,
  NOT_CURATOR: (a) => `${short(a.caller)} is not a curator of this registry: sign with a curator's account (--account)`,
  NOT_A_PROVIDER: (a) => `${short(a.caller)} is not a provider: apply first (npx hardhat provider apply --name ...)`,
  NOTHING_TO_WITHDRAW: (a) => `node ${short(a.nodeId)} has nothing to withdraw yet: earnings are released as the subscribed time is served`,
  ENFORCED_PAUSE: () => "the escrow is paused: a curator unpauses it (npx hardhat curator pause --unpause)",
  EXPECTED_PAUSE: () => "the escrow is not paused",
  NODE_NOT_TRUSTED: (a) => `node ${short(a.nodeId)} is not trusted (inactive, or its provider is not approved)`,
  ERC20_INSUFFICIENT_BALANCE: (a) => `${short(a.sender)} has too few tokens for this (npx hardhat token mint gives test SNT on a local chain)`,
};

/** Words of a Solidity error name: `InvalidProviderStatus` -> `invalid provider status`. */
function words(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2").toLowerCase();
}

/** The sentence for a contract's refusal, from the SDK error's code and decoded arguments. */
export function refusalSentence(code: ErrorCode, details: Readonly<Record<string, unknown>>): string | undefined {
  const contractError = details.contractError;
  if (typeof contractError !== "string") return undefined;
  const sentence = SENTENCES[code];
  if (sentence !== undefined) return sentence(details);
  if (contractError === "Error" && typeof details.reason === "string") return `the contract refused: ${details.reason}`;
  return `the contract refused: ${words(contractError)}`;
}
