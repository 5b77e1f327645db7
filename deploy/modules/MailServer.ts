import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { addMailServerFutures } from "./mailServerFutures.js";

/**
 * The registry and the escrow for an existing payment token (SNT on mainnet): pass its address
 * as the `token` parameter. See mailServerFutures.ts for the other parameters.
 */
export default buildModule("MailServer", (m) => {
  const token = m.getParameter<string>("token");
  return addMailServerFutures(m, token);
});
