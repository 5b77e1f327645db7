import type { ArgumentType, IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";
import { keccak256, toUtf8Bytes } from "ethers";

/** keccak256("mailserver"): the node kind enabled at deployment. */
export const MAILSERVER_KIND = keccak256(toUtf8Bytes("mailserver"));
const CURATOR_ROLE = keccak256(toUtf8Bytes("CURATOR_ROLE"));

/**
 * The futures shared by every deployment: the registry, the escrow paid in `token`, the
 * mail-server kind enabled, the default provider added, and an extra curator.
 *
 * Parameters (under the calling module's id):
 * - adminDelay: seconds a transfer of the admin role must wait (default 2 days).
 * - defaultProvider / defaultProviderPayout / defaultProviderName / defaultProviderURI:
 *   the provider clients trust out of the box (defaults to the deployer, paid to the deployer).
 * - curator: an extra curator account (the deployer, as admin, is a curator already).
 */
export function addMailServerFutures(m: IgnitionModuleBuilder, token: ArgumentType) {
  const deployer = m.getAccount(0);
  const adminDelay = m.getParameter<bigint>("adminDelay", 2n * 24n * 3600n);
  const defaultProvider = m.getParameter("defaultProvider", deployer);
  // Ignition cannot default one parameter to another: give both when the provider is not the deployer.
  const defaultProviderPayout = m.getParameter("defaultProviderPayout", deployer);
  const defaultProviderName = m.getParameter<string>("defaultProviderName", "Status");
  const defaultProviderURI = m.getParameter<string>("defaultProviderURI", "https://status.app");
  const curator = m.getParameter("curator", deployer);

  const registry = m.contract("MailServerRegistry", [adminDelay, deployer]);
  const escrow = m.contract("SubscriptionEscrow", [registry, token]);

  // The registry asks the escrow before a node is switched off (no deactivation while paid).
  m.call(registry, "setEscrow", [escrow], { id: "SetEscrow" });
  m.call(registry, "setKindEnabled", [MAILSERVER_KIND, true], { id: "EnableMailserverKind" });
  const added = m.call(
    registry,
    "addProvider",
    [defaultProvider, defaultProviderName, defaultProviderURI, defaultProviderPayout],
    { id: "AddDefaultProvider" },
  );
  m.call(registry, "setDefaultProvider", [defaultProvider], { id: "SetDefaultProvider", after: [added] });
  m.call(registry, "grantRole", [CURATOR_ROLE, curator], { id: "GrantCurator" });

  return { registry, escrow };
}
