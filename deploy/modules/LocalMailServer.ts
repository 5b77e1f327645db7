import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { addMailServerFutures } from "./mailServerFutures.js";

/**
 * A local chain's full setup: an SNT-like test token (MiniMe behaviour: approveAndCall,
 * false-returning transferFrom, the approve rule), then the registry and the escrow paid in it.
 */
export default buildModule("LocalMailServer", (m) => {
  const token = m.contract("SNTLikeToken", []);
  return { token, ...addMailServerFutures(m, token) };
});
