// Contract access written once: the typed handles of the registry and the escrow, and their ABI
// interfaces as plain ethers `Interface`s (for decoding logs and revert data). Nothing is built
// at import time: each interface is made on first use and shared.
import type { ContractRunner, Interface } from "ethers";
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
