// Errors as a browser app meets them. A wallet's "no" (EIP-1193 4001, as ethers' BrowserProvider reports it) is its own error code,
// so that an app can say "you declined" rather than "the transaction failed".
import { expect } from "chai";
import { makeError } from "ethers";
import { isUserRejection, toSdkError } from "@status/mailserver-sdk";

describe("SDK errors: wallet rejections", () => {
  it("maps ethers' ACTION_REJECTED and a raw EIP-1193 4001, however wrapped, to USER_REJECTED", () => {
    const fromEthers = makeError("user rejected action", "ACTION_REJECTED", { action: "sendTransaction", reason: "rejected" });
    const raw = Object.assign(new Error("User rejected the request."), { code: 4001 });
    const wrapped = { message: "could not coalesce error", error: { code: 4001, message: "User denied transaction signature" } };
    for (const error of [fromEthers, raw, wrapped, new Error("outer", { cause: raw })]) {
      expect(isUserRejection(error)).to.equal(true);
      expect(toSdkError(error, "subscribe")).to.include({ code: "USER_REJECTED", message: "subscribe: rejected in the wallet" });
    }
  });

  it("takes a browser's failed fetch (Chromium, Firefox, Safari wording) for an unreachable RPC", () => {
    for (const message of ["Failed to fetch", "NetworkError when attempting to fetch resource.", "Load failed"]) {
      expect(toSdkError(new TypeError(message), "read").code, message).to.equal("RPC_UNAVAILABLE");
    }
  });

  it("leaves other failures alone", () => {
    for (const error of [new Error("boom"), { code: 4100 }, { code: "NETWORK_ERROR" }, null]) expect(isUserRejection(error)).to.equal(false);
    expect(toSdkError(Object.assign(new Error("nope"), { code: "NETWORK_ERROR" }), "read").code).to.equal("RPC_UNAVAILABLE");
  });
});
