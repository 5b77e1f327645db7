// The escrow and the SDK against the real MiniMe bytecode (minimetoken@0.2.0, solc 0.4.18), the
// token family SNT was deployed from. Old MiniMe drops the escrow's revert data on the
// one-transaction path; the SDK gets the escrow's own error back by simulating the escrow's side
// of `approveAndCall` (an eth_call of `receiveApproval` from the token's address).
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { network } from "hardhat";
import { isSdkError, subscriptionCommitment, SubscriptionClient, type ClientOptions, type ErrorCode } from "@status/mailserver-sdk";
import {
  Action,
  approvalData,
  as,
  commitmentOf,
  consentFor,
  miniMeFixture,
  newClient,
  plainFixture,
  RENEWAL_WINDOW,
  PRICE,
  recordOf,
  type Fx,
  type SubRecord,
} from "../helpers/escrowFixture.js";
import { MINIME_BYTECODE } from "../helpers/minime.js";

const { networkHelpers } = await network.create();
const load = () => networkHelpers.loadFixture(miniMeFixture);

const options = (fx: Fx, runner: ClientOptions["runner"]): ClientOptions => ({
  runner,
  addresses: { registry: fx.registry.target as string, escrow: fx.escrowAddress },
});

async function expectCode(promise: Promise<unknown>, code: ErrorCode) {
  try {
    await promise;
  } catch (error) {
    expect(isSdkError(error), String(error)).to.equal(true);
    expect((error as { code: string }).code).to.equal(code);
    return error;
  }
  expect.fail(`expected ${code}`);
}

describe("SubscriptionEscrow with the real MiniMe token", function () {
  it("the Solidity tests embed exactly the npm package's MiniMe bytecode", async function () {
    const embedded = readFileSync(new URL("../solidity/utils/MiniMeBytecode.sol", import.meta.url), "utf8");
    const hex = /hex"([0-9a-f]+)"/.exec(embedded)?.[1];
    expect(`0x${hex}`, "run npm run gen:minime").to.equal(MINIME_BYTECODE);
  });

  it("MiniMe drops the escrow's revert data on approveAndCall (why the SDK simulates)", async function () {
    const fx = await load();
    const data = approvalData(fx.ethers, Action.Subscribe, fx.node1, fx.clientA, 1n, PRICE - 1n,
      await consentFor(fx.escrow, fx.node1, fx.clientA, fx.alice.address));
    try {
      await as(fx.token, fx.alice).approveAndCall.staticCall(fx.escrowAddress, PRICE, data);
      expect.fail("should revert");
    } catch (error) {
      const revert = (error as { data?: string }).data;
      expect(revert === undefined || revert === "0x", `revert data ${revert}`).to.equal(true);
    }
  });

  it("subscribes and extends in one transaction each through the SDK, no allowance left", async function () {
    const fx = await load();
    const client = new SubscriptionClient(options(fx, fx.alice));
    expect((await client.tokenSupport()).approveAndCall).to.equal(true);
    const key = newClient();
    const bought = await client.subscribe({ nodeId: fx.node1, clientId: key.address, clientKey: key, months: 2 });
    expect(bought.path).to.equal("approveAndCall");
    expect(bought.amount).to.equal(2n * PRICE);
    const extended = await client.extend({ nodeId: fx.node1, clientId: key.address, months: 1 });
    expect(extended.path).to.equal("approveAndCall");
    expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(3n * PRICE);
  });

  describe("the escrow's own error comes back, nothing is sent", function () {
    // Each case changes the chain behind the SDK's back after it would have quoted, then asks
    // the SDK to check the approveAndCall purchase as the token would make it.
    const cases: [string, ErrorCode, (fx: Fx, client: SubscriptionClient, key: ReturnType<typeof newClient>) => Promise<unknown>][] = [
      ["price changed since the quote", "PRICE_ABOVE_MAXIMUM", async (fx, client, key) => {
        await (await as(fx.registry, fx.provider1).setNodePrice(fx.node1, PRICE + 1n)).wait();
        return client.simulateApproveAndCall({ action: "subscribe", from: fx.alice.address, nodeId: fx.node1, clientId: key.address, months: 1, maxPricePerMonth: PRICE, amount: PRICE + 1n,
          consent: await client.signConsent(key, fx.node1, fx.alice.address) });
      }],
      ["expiry too far", "EXPIRY_TOO_FAR", async (fx, client, key) => {
        await client.subscribe({ nodeId: fx.node1, clientId: key.address, clientKey: key, months: 24 });
        await client.extend({ nodeId: fx.node1, clientId: key.address, months: 24 });
        return client.simulateApproveAndCall({ action: "extend", from: fx.alice.address, nodeId: fx.node1, clientId: key.address, months: 1, maxPricePerMonth: PRICE });
      }],
      ["paused", "ENFORCED_PAUSE", async (fx, client, key) => {
        await (await fx.escrow.pause()).wait();
        return client.simulateApproveAndCall({ action: "subscribe", from: fx.alice.address, nodeId: fx.node1, clientId: key.address, months: 1, maxPricePerMonth: PRICE,
          consent: await client.signConsent(key, fx.node1, fx.alice.address) });
      }],
      ["node no longer trusted", "NODE_NOT_TRUSTED", async (fx, client, key) => {
        await (await fx.registry.suspendProvider(fx.provider1.address, "x")).wait();
        return client.simulateApproveAndCall({ action: "subscribe", from: fx.alice.address, nodeId: fx.node1, clientId: key.address, months: 1, maxPricePerMonth: PRICE,
          consent: await client.signConsent(key, fx.node1, fx.alice.address) });
      }],
      ["subscription already active", "SUBSCRIPTION_IS_ACTIVE", async (fx, client, key) => {
        await new SubscriptionClient(options(fx, fx.bob)).subscribe({ nodeId: fx.node1, clientId: key.address, clientKey: key, months: 1 });
        return client.simulateApproveAndCall({ action: "subscribe", from: fx.alice.address, nodeId: fx.node1, clientId: key.address, months: 1, maxPricePerMonth: PRICE,
          consent: await client.signConsent(key, fx.node1, fx.alice.address) });
      }],
      ["cancellation fee above the maximum", "CANCELLATION_FEE_ABOVE_MAXIMUM", async (fx, client, key) => {
        await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
        return client.simulateApproveAndCall({ action: "subscribe", from: fx.alice.address, nodeId: fx.node1, clientId: key.address, months: 1, maxPricePerMonth: PRICE,
          maxCancellationFeeBps: 0n, consent: await client.signConsent(key, fx.node1, fx.alice.address) });
      }],
      ["no consent of the client key", "INVALID_CLIENT_CONSENT", async (fx, client, key) =>
        client.simulateApproveAndCall({ action: "subscribe", from: fx.alice.address, nodeId: fx.node1, clientId: key.address, months: 1, maxPricePerMonth: PRICE })],
      // The record from before the last extension, as a client that missed an event would hold.
      ["stale subscription record", "SUBSCRIPTION_RECORD_MISMATCH", async (fx, client, key) => {
        await client.subscribe({ nodeId: fx.node1, clientId: key.address, clientKey: key, months: 1 });
        stale.set(key.address, await recordOf(fx.escrow, fx.node1, key.address));
        await client.extend({ nodeId: fx.node1, clientId: key.address, months: 1 });
        return client.simulateApproveAndCall({ action: "extend", from: fx.alice.address, nodeId: fx.node1, clientId: key.address, months: 1, maxPricePerMonth: PRICE,
          subscription: stale.get(key.address) });
      }],
    ];
    const stale = new Map<string, SubRecord>();
    for (const [name, code, act] of cases) {
      it(name, async function () {
        const fx = await load();
        const client = new SubscriptionClient(options(fx, fx.alice));
        const key = newClient();
        const nonce = await act(fx, client, key).then(
          () => expect.fail(`expected ${code}`),
          async (error: unknown) => {
            expect(isSdkError(error), String(error)).to.equal(true);
            expect((error as { code: string }).code).to.equal(code);
            return fx.ethers.provider.getTransactionCount(fx.alice.address);
          },
        );
        // A real purchase in that state fails before sending, with the same code (the SDK's own
        // check names an untrusted node UNTRUSTED_NODE).
        const purchaseCode: ErrorCode = code === "NODE_NOT_TRUSTED" ? "UNTRUSTED_NODE" : code;
        const before = await fx.token.balanceOf(fx.alice.address);
        if (code === "SUBSCRIPTION_RECORD_MISMATCH") {
          await expectCode(client.extend({ nodeId: fx.node1, clientId: key.address, months: 1, subscription: stale.get(key.address) }), code);
        } else if (code !== "EXPIRY_TOO_FAR" && code !== "INVALID_CLIENT_CONSENT") {
          await expectCode(client.subscribe({ nodeId: fx.node1, clientId: key.address, clientKey: key, months: 1, maxPricePerMonth: PRICE,
            ...(code === "CANCELLATION_FEE_ABOVE_MAXIMUM" ? { maxCancellationFeeBps: 0n } : {}) }), purchaseCode);
        } else if (code === "EXPIRY_TOO_FAR") {
          await expectCode(client.extend({ nodeId: fx.node1, clientId: key.address, months: 1 }), code);
        }
        expect(await fx.ethers.provider.getTransactionCount(fx.alice.address)).to.equal(nonce);
        expect(await fx.token.balanceOf(fx.alice.address)).to.equal(before);
        expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
      });
    }
  });

  it("the SDK and these tests read the same current record from the events, and the escrow agrees", async function () {
    const fx = await load();
    const client = new SubscriptionClient(options(fx, fx.alice));
    const key = newClient();
    await client.subscribe({ nodeId: fx.node1, clientId: key.address, clientKey: key, months: 1 });
    await client.extend({ nodeId: fx.node1, clientId: key.address, months: 2 });
    await client.setAutoRenew(fx.node1, key.address, { months: 1, maxPricePerMonth: PRICE });
    // Two independent readings of the event trail (the SDK's and escrowFixture's), each checked
    // against the stored commitment, and computed commitments that match the chain's.
    const ours = await recordOf(fx.escrow, fx.node1, key.address);
    const sdks = await client.getSubscription(fx.node1, key.address);
    expect(sdks).to.deep.equal(ours);
    expect(subscriptionCommitment(sdks!)).to.equal(commitmentOf(ours));
    expect(await fx.escrow.subscriptionCommitment(fx.node1, key.address)).to.equal(commitmentOf(ours));
    expect(ours.renewMonths).to.equal(1n);
  });

  it("cancels with the refund and withdraws with the real token", async function () {
    const fx = await load();
    const client = new SubscriptionClient(options(fx, fx.alice));
    const key = newClient();
    await client.subscribe({ nodeId: fx.node1, clientId: key.address, clientKey: key, months: 1 });
    await networkHelpers.time.increase(10n * 86_400n);
    const { refund } = await client.cancel(fx.node1, key.address);
    expect(refund > 0n && refund < PRICE).to.equal(true);
    const { amount } = await new SubscriptionClient(options(fx, fx.provider1)).withdraw(fx.node1);
    expect(amount + refund).to.equal(PRICE);
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });

  // Pending automatic renewals are paid from the owner's one allowance to the escrow: buying
  // anything else through the SDK must neither wipe it nor leave more behind.
  for (const [name, fixture] of [["real MiniMe", miniMeFixture], ["plain ERC-20", plainFixture]] as const) {
    it(`a purchase keeps the allowance approved for renewals, which keep renewing (${name})`, async function () {
      const fx = await networkHelpers.loadFixture(fixture);
      const client = new SubscriptionClient(options(fx, fx.alice));
      const a = newClient();
      await client.subscribe({ nodeId: fx.node1, clientId: a.address, clientKey: a, months: 1 });
      const optIn = await client.setAutoRenew(fx.node1, a.address, { months: 2, maxPricePerMonth: PRICE, approve: true });
      expect(optIn.approvals.length).to.be.greaterThan(0);
      expect(await client.renewalAllowanceNeeded(fx.alice.address)).to.equal(2n * PRICE);
      // DEFAULT_RENEWAL_CYCLES (12) rounds of what the renewals need.
      expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(24n * PRICE);

      const b = newClient();
      const bought = await client.subscribe({ nodeId: fx.node2, clientId: b.address, clientKey: b, months: 1 });
      expect(bought.path).to.equal("approve");
      expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(24n * PRICE);
      // Extending (another purchase) keeps it too.
      await client.extend({ nodeId: fx.node2, clientId: b.address, months: 1 });
      expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(24n * PRICE);

      // So it renews, and renews again.
      const keeper = new SubscriptionClient(options(fx, fx.carol));
      let { expiresAtSeconds } = await client.status(fx.node1, a.address);
      for (let round = 0; round < 2; round++) {
        await networkHelpers.time.increaseTo(expiresAtSeconds - RENEWAL_WINDOW + 1n);
        expect((await client.renewalCheck(fx.node1, a.address)).reason).to.equal("none");
        const renewed = await keeper.renew(fx.node1, a.address);
        expect(renewed.amount).to.equal(2n * PRICE);
        expiresAtSeconds = renewed.expiresAtSeconds;
      }
      expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(20n * PRICE);

      // An owner who approves one round only is warned before it runs out, then told why it stops.
      await client.setAutoRenew(fx.node1, a.address, { months: 2, maxPricePerMonth: PRICE, approve: true, cycles: 1 });
      expect(await client.renewalCheck(fx.node1, a.address)).to.deep.include({ renewalsCovered: 1, warning: "allowance-low" });
      await networkHelpers.time.increaseTo(expiresAtSeconds - RENEWAL_WINDOW + 1n);
      const last = await keeper.renew(fx.node1, a.address);
      expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
      await networkHelpers.time.increaseTo(last.expiresAtSeconds - RENEWAL_WINDOW + 1n);
      expect((await client.renewalCheck(fx.node1, a.address)).reason).to.equal("insufficient-allowance");
    });
  }

  it("without pending renewals nothing is left approved after a purchase (plain ERC-20)", async function () {
    const fx = await networkHelpers.loadFixture(plainFixture);
    const client = new SubscriptionClient(options(fx, fx.alice));
    await (await as(fx.token, fx.alice).approve(fx.escrowAddress, 5n)).wait();
    const key = newClient();
    const bought = await client.subscribe({ nodeId: fx.node1, clientId: key.address, clientKey: key, months: 1 });
    expect(bought.path).to.equal("approve");
    expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
  });
});
