import { isTransientError } from "./errors.js";
import { getAddress, id, TypedDataEncoder, type Contract, type Provider } from "ethers";

// The token's ABI lives with the other contract access (core/contracts.ts).
export { TOKEN_ABI } from "./core/contracts.js";

/** How a purchase is paid. */
export type PaymentPath = "approveAndCall" | "permit" | "approve";

export const APPROVE_AND_CALL_SELECTOR = id("approveAndCall(address,uint256,bytes)").slice(0, 10);
export const PERMIT_SELECTOR = id("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)").slice(0, 10);

/**
 * Whether deployed bytecode dispatches on a selector: solc compares selectors pushed with PUSH4
 * (0x63). A heuristic that never calls the token, so detection has no side effects; it misses
 * tokens behind proxies, which then fall back to the approve path (always safe).
 */
export function bytecodeHasSelector(bytecode: string, selector: string): boolean {
  return bytecode.toLowerCase().includes(`63${selector.slice(2).toLowerCase()}`);
}

export interface TokenSupport {
  approveAndCall: boolean;
  permit: boolean;
}

export async function detectTokenSupport(provider: Provider, token: string): Promise<TokenSupport> {
  const code = await provider.getCode(token);
  return {
    approveAndCall: bytecodeHasSelector(code, APPROVE_AND_CALL_SELECTOR),
    permit: bytecodeHasSelector(code, PERMIT_SELECTOR),
  };
}

export interface PermitDomain {
  name: string;
  version: string;
  chainId: bigint;
  verifyingContract: string;
}

/**
 * The token's EIP-712 domain, checked against its DOMAIN_SEPARATOR; undefined when it cannot be
 * established (a permit signed in a wrong domain would only revert on chain).
 */
export async function readPermitDomain(token: Contract, chainId: bigint): Promise<PermitDomain | undefined> {
  const verifyingContract = getAddress(await token.getAddress());
  let separator: string;
  try {
    separator = await token.getFunction("DOMAIN_SEPARATOR")();
  } catch (error) {
    if (isTransientError(error)) throw error;
    return undefined;
  }
  const candidates: PermitDomain[] = [];
  try {
    // EIP-5267, when the token has it, names the domain exactly.
    const domain = await token.getFunction("eip712Domain")();
    candidates.push({ name: domain.name, version: domain.version, chainId: BigInt(domain.chainId), verifyingContract: getAddress(domain.verifyingContract) });
  } catch (error) {
    if (isTransientError(error)) throw error;
    // Older tokens: name() with the usual version "1".
  }
  try {
    const name: string = await token.getFunction("name")();
    candidates.push({ name, version: "1", chainId, verifyingContract });
  } catch (error) {
    if (isTransientError(error)) throw error;
    // No name either: no permit.
  }
  return candidates.find((domain) => TypedDataEncoder.hashDomain(domain) === separator);
}

export const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};
