// A client key's consent to another account owning its subscription (EIP-712, checked by the
// escrow whenever the payer is not the client key itself). Isomorphic.
import type { Signer } from "ethers";
import { MailserverSdkError } from "../errors.js";
import { normalizeNodeId } from "../nodeKey.js";
import { checkAddress } from "../core/args.js";
import type { EscrowContext } from "./context.js";

/** A client key's consent to another account owning its subscription (ISubscriptionEscrow.ClientConsent). */
export interface ClientConsent {
  deadline: bigint;
  signature: string;
}

/** EIP-712 types of a client consent (must match the escrow's `CLIENT_CONSENT_TYPEHASH`). */
export const CLIENT_CONSENT_TYPES = {
  ClientConsent: [
    { name: "nodeId", type: "bytes32" },
    { name: "owner", type: "address" },
    { name: "deadline", type: "uint256" },
  ],
};

export function clientConsentDomain(escrow: string, chainId: bigint | number) {
  return { name: "SubscriptionEscrow", version: "1", chainId, verifyingContract: escrow };
}

/**
 * Sign, with the client key, its consent to `owner` holding its subscription to `nodeId` until
 * `deadline`. The escrow requires it whenever the payer is not the client key itself, so that
 * nobody can occupy a stranger's client id.
 */
export async function signClientConsent(
  clientKey: Signer,
  req: { escrow: string; chainId: bigint | number; nodeId: string; owner: string; deadline: bigint | number },
): Promise<ClientConsent> {
  let signature: string;
  try {
    signature = await clientKey.signTypedData(clientConsentDomain(req.escrow, req.chainId), CLIENT_CONSENT_TYPES, {
      nodeId: normalizeNodeId(req.nodeId),
      owner: checkAddress(req.owner, "owner"),
      deadline: req.deadline,
    });
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", "the client key could not sign the consent", { cause: error });
  }
  return { deadline: BigInt(req.deadline), signature };
}

/** No consent: the payer is the client key itself. */
export const NO_CONSENT: ClientConsent = { deadline: 0n, signature: "0x" };

/** Sign a client key's consent for `owner`, valid for an hour from the latest block. */
export async function signConsent(c: EscrowContext, clientKey: Signer, nodeId: string, owner: string, escrow?: string): Promise<ClientConsent> {
  const { chainId } = await c.ctx.info();
  const deadline = (await c.ctx.latestBlockTime()) + 3600n;
  return signClientConsent(clientKey, { escrow: escrow ?? (await c.escrowAddress()), chainId, nodeId, owner, deadline });
}

/**
 * The consent a write on behalf of `clientId` needs: none when the payer is the client key,
 * else the one given, else one signed now by the given client key (INVALID_CLIENT_CONSENT when
 * there is neither).
 */
export async function consentFor(
  c: EscrowContext,
  given: { clientKey?: Signer; consent?: ClientConsent },
  req: { nodeId: string; clientId: string; payer: string; escrow: string },
): Promise<ClientConsent> {
  if (req.clientId === req.payer) return NO_CONSENT;
  if (given.consent !== undefined) return given.consent;
  if (given.clientKey === undefined) {
    throw new MailserverSdkError("INVALID_CLIENT_CONSENT", "paying for another client key needs that key's consent: pass clientKey or consent", {
      details: { nodeId: req.nodeId, clientId: req.clientId, owner: req.payer },
    });
  }
  return signConsent(c, given.clientKey, req.nodeId, req.payer, req.escrow);
}
