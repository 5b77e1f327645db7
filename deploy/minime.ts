// The real MiniMe token (Giveth's, solc 0.4.18: the family SNT was deployed from), deployed from
// the ABI and bytecode that the `minimetoken@0.2.0` npm package ships. It differs from a
// MiniMe-like token compiled with a modern solc where it matters: `approveAndCall` drops the
// callee's revert data, `require`s carry no reason, and every transfer writes checkpoints.
import { createRequire } from "node:module";
import { ContractFactory, ZeroAddress, type Contract, type Signer } from "ethers";

const require = createRequire(import.meta.url);
const build = require("minimetoken/build/MiniMeToken.sol.js") as {
  MiniMeTokenAbi: object[];
  MiniMeTokenByteCode: string;
  MiniMeTokenFactoryAbi: object[];
  MiniMeTokenFactoryByteCode: string;
};

export const MINIME_ABI = build.MiniMeTokenAbi;
/** The token's creation bytecode, as the package ships it. */
export const MINIME_BYTECODE = build.MiniMeTokenByteCode;

/** Deploy a MiniMe token (and its clone factory) controlled by `controller`, which may mint. */
export async function deployMiniMe(controller: Signer, name = "Status Network Token", symbol = "SNT"): Promise<Contract> {
  const factory = await new ContractFactory(build.MiniMeTokenFactoryAbi, build.MiniMeTokenFactoryByteCode, controller).deploy();
  await factory.waitForDeployment();
  const token = await new ContractFactory(build.MiniMeTokenAbi, build.MiniMeTokenByteCode, controller).deploy(
    await factory.getAddress(),
    ZeroAddress,
    0,
    name,
    18,
    symbol,
    true
  );
  await token.waitForDeployment();
  return token as unknown as Contract;
}
