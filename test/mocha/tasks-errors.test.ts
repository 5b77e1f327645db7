// Every refusal a contract can give reaches a task's user as a plain sentence: never the Solidity
// error's name nor the SDK's code.
import { expect } from "chai";
import { CONTRACT_ERROR_CODES } from "@status/mailserver-sdk";
import { refusalSentence } from "../../tasks/errors.js";

const PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

describe("task error sentences", () => {
  it("turn every contract error the SDK knows into a sentence without its name or code", () => {
    for (const [name, code] of Object.entries(CONTRACT_ERROR_CODES)) {
      const sentence = refusalSentence(code, { contractError: name, provider: PROVIDER, current: 2n, nodeId: "0x" + "ab".repeat(32) });
      expect(sentence, name).to.be.a("string");
      expect(sentence, name).to.not.include(name);
      expect(sentence, name).to.not.include(code);
      expect(sentence, name).to.not.match(/\n/);
    }
  });

  it("say what state a provider is in and what to do", () => {
    expect(refusalSentence("INVALID_PROVIDER_STATUS", { contractError: "InvalidProviderStatus", provider: PROVIDER, current: 2n })).to.equal(
      `provider ${PROVIDER} is approved, which does not allow this: a provider applies once, a curator approves a pending provider, suspends an approved one and reinstates a suspended one`,
    );
    expect(refusalSentence("INVALID_PROVIDER_STATUS", { contractError: "InvalidProviderStatus", provider: PROVIDER, current: 0n })).to.equal(
      `${PROVIDER} is not a provider of this registry: apply first (npx hardhat provider apply --name ...)`,
    );
    expect(refusalSentence("PROVIDER_NOT_APPROVED", { contractError: "ProviderNotApproved", provider: PROVIDER, current: 1n })).to.equal(
      `provider ${PROVIDER} is pending, not approved: a curator must approve it first (npx hardhat curator approve ${PROVIDER})`,
    );
    expect(refusalSentence("CONTRACT_ERROR", { contractError: "Error", reason: "nope" })).to.equal("the contract refused: nope");
  });

  it("leave errors that are not contract refusals to their own message", () => {
    expect(refusalSentence("INVALID_ENR", {})).to.equal(undefined);
  });
});
