// Contract access written once: the typed handles of the registry and the escrow, the payment
// token's handle, and the registry's and escrow's ABI interfaces as plain ethers `Interface`s (for decoding logs and revert data). Nothing is built
// at import time: each interface is made on first use and shared.
import { Contract, type ContractRunner, type Interface } from "ethers";
import type { IMailServerRegistry } from "../typechain/interfaces/IMailServerRegistry.js";
import type { ISubscriptionEscrow } from "../typechain/interfaces/ISubscriptionEscrow.js";
import { IMailServerRegistry__factory } from "../typechain/factories/interfaces/IMailServerRegistry__factory.js";
import { ISubscriptionEscrow__factory } from "../typechain/factories/interfaces/ISubscriptionEscrow__factory.js";

/** The escrow at `address`, bound to `runner` (a Provider for reads, a Signer for writes). */
export function escrowContract(address: string, runner: ContractRunner): ISubscriptionEscrow {
  return ISubscriptionEscrow__factory.connect(address, runner);
}

/** The registry at `address`, bound to `runner`. */
export function registryContract(address: string, runner: ContractRunner): IMailServerRegistry {
  return IMailServerRegistry__factory.connect(address, runner);
}

/**
 * The token functions the SDK uses. Human-readable because the payment token is not ours: SNT
 * (MiniMe) on mainnet, any ERC-20 elsewhere, so only what a call needs is assumed.
 */
export const TOKEN_ABI = [
  "function name() view returns (string)",
  "function symbol() view returns (string)",
  "function decimals() view returns (uint8)",
  "function balanceOf(address owner) view returns (uint256)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function approveAndCall(address spender, uint256 amount, bytes data) returns (bool)",
  "function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)",
  "function nonces(address owner) view returns (uint256)",
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
] as const;

/** The payment token at `address` (only the functions of TOKEN_ABI: it is not ours). */
export function tokenContract(address: string, runner: ContractRunner): Contract {
  return new Contract(address, TOKEN_ABI, runner);
}

let escrowAbi: Interface | undefined;
let registryAbi: Interface | undefined;

// Typechain's interfaces narrow ethers' `Interface` with per-function overloads that TypeScript
// cannot relate back to it; they are the same objects, so the widening cast lives here only.
/** The escrow's ABI (events, errors, functions) as an ethers Interface. */
export function escrowInterface(): Interface {
  escrowAbi ??= ISubscriptionEscrow__factory.createInterface() as unknown as Interface;
  return escrowAbi;
}

/** The registry's ABI as an ethers Interface. */
export function registryInterface(): Interface {
  registryAbi ??= IMailServerRegistry__factory.createInterface() as unknown as Interface;
  return registryAbi;
}
