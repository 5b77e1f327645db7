// SubscriptionEscrow: extend (any time, current price, fixed midnight expiries) and automatic
// renewal (opt-in, window, renewalCheck reasons).
import { expect } from "chai";
import { network } from "hardhat";
import {
  Blocker,
  DAY,
  MAX_MONTHS,
  MONTH,
  PRICE,
  RENEWAL_WINDOW,
  as,
  buy,
  endOfDay,
  exactUnserved,
  expectRevertOneOf,
  expiryOf,
  middayAhead,
  setAllowance,
  sntFixture,
  txTime,
  unservedAt,
  type Fx,
  rec,
  recordOf,
} from "../helpers/escrowFixture.js";
import { EMPTY_SUBSCRIPTION } from "@status/mailserver-sdk";

const { ethers, networkHelpers } = await network.create();
const load = (): Promise<Fx> => networkHelpers.loadFixture(sntFixture);
const { time } = networkHelpers;

async function at<T>(t: bigint, send: () => Promise<T>): Promise<T> {
  await time.setNextBlockTimestamp(t);
  return send();
}

describe("SubscriptionEscrow: extend", function () {
  it("extends an active subscription from its expiry, at any time", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    const expiry = expiryOf(t0, 1n); // the midnight after t0 + MONTH
    await setAllowance(fx, fx.alice, 2n * PRICE);
    const t1 = t0 + 10n * DAY;
    const tx = await at(t1, () => as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 2n, PRICE));
    // Whole months added to the midnight: the result is a midnight too.
    await expect(tx)
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n, PRICE, 2n * PRICE, rec({ expiresAt: expiry + 2n * MONTH }));
    await expect(tx).to.changeTokenBalances(ethers, fx.token, [fx.alice, fx.escrowAddress], [-2n * PRICE, 2n * PRICE]);
    const sub = await recordOf(fx.escrow, fx.node1, fx.clientA);
    expect(sub.expiresAt).to.equal(expiry + 2n * MONTH);
    expect(sub.owner).to.equal(fx.alice.address);
    // A new segment from now: the old one's unserved part plus the new payment.
    expect(sub.start).to.equal(t1);
    expect(sub.paid).to.equal(unservedAt(PRICE, t0, expiry, t1) + 2n * PRICE);
    expect((await fx.escrow.status(fx.node1, fx.clientA)).monthsLeft).to.equal(3n);
    // Extending right after buying works too (not only near the expiry).
    const t2 = await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE);
    await setAllowance(fx, fx.bob, PRICE);
    await (await as(fx.escrow, fx.bob).extend(fx.node1, fx.clientB, 1n, PRICE)).wait();
    expect((await recordOf(fx.escrow, fx.node1, fx.clientB)).expiresAt).to.equal(expiryOf(t2, 1n) + MONTH);
  });

  it("extends a lapsed subscription from now, and the lapsed payment stays with the provider", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await time.increaseTo(t0 + MONTH + 5n * DAY);
    expect((await fx.escrow.status(fx.node1, fx.clientA)).active).to.equal(false);
    await setAllowance(fx, fx.alice, PRICE);
    const t1 = t0 + MONTH + 5n * DAY + 100n;
    // From now, rounded up to the next midnight.
    const expiry = endOfDay(t1 + MONTH);
    expect(expiry - t1).to.equal(MONTH + DAY / 2n - 100n);
    await expect(at(t1, () => as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, PRICE)))
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 1n, PRICE, PRICE, rec({ expiresAt: expiry }));
    const st = await fx.escrow.status(fx.node1, fx.clientA);
    expect(st.active).to.equal(true);
    expect(st.expiresAt).to.equal(expiry);
    const sub = await recordOf(fx.escrow, fx.node1, fx.clientA);
    expect(sub.start).to.equal(t1);
    expect(sub.paid).to.equal(PRICE); // nothing carried over from the lapsed month
    // The first month was fully served; cancelling now refunds only the new month's unserved part.
    const refund = unservedAt(PRICE, t1, expiry, t1 + DAY);
    expect(refund).to.be.lte(exactUnserved(PRICE, t1, expiry, t1 + DAY));
    expect(refund).to.be.gte(exactUnserved(PRICE, t1, expiry, t1 + DAY) - 1n);
    await expect(at(t1 + DAY, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, refund, 0n);
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(2n * PRICE - refund);
  });

  it("a price change never moves an existing expiry; extensions pay the current price", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
    const expiry = expiryOf(t0, 2n);
    await (await as(fx.registry, fx.provider1).setNodePrice(fx.node1, 2n * PRICE)).wait();
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).expiresAt).to.equal(expiry);
    expect((await fx.escrow.status(fx.node1, fx.clientA)).expiresAt).to.equal(expiry);
    await setAllowance(fx, fx.alice, 2n * PRICE);
    await expect(as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "PriceAboveMaximum")
      .withArgs(fx.node1, 2n * PRICE, PRICE);
    await expect(as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, 2n * PRICE))
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 1n, 2n * PRICE, 2n * PRICE, rec({ expiresAt: expiry + MONTH }));
    await (await as(fx.registry, fx.provider1).setNodePrice(fx.node1, PRICE / 2n)).wait();
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).expiresAt).to.equal(expiry + MONTH);
    await setAllowance(fx, fx.alice, PRICE);
    await expect(as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 2n, PRICE))
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n, PRICE / 2n, PRICE, rec({ expiresAt: expiry + 3n * MONTH }));
  });

  it("refuses a non-owner, an unknown subscription, bad months, an untrusted node and a failed payment", async function () {
    const fx = await load();
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    await setAllowance(fx, fx.bob, PRICE);
    await expect(as(fx.escrow, fx.bob).extend(fx.node1, fx.clientA, 1n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "NotSubscriptionOwner")
      .withArgs(fx.node1, fx.clientA, fx.bob.address, fx.alice.address);
    await expect(as(fx.escrow, fx.bob).extend(fx.node1, fx.clientB, 1n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "NoSubscription")
      .withArgs(fx.node1, fx.clientB);
    await setAllowance(fx, fx.alice, PRICE);
    for (const m of [0n, MAX_MONTHS + 1n]) {
      await expect(as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, m, PRICE))
        .to.be.revertedWithCustomError(fx.escrow, "InvalidMonths")
        .withArgs(m, MAX_MONTHS);
    }
    await expect(as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 2n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "TokenTransferFailed")
      .withArgs(fx.tokenAddress, fx.alice.address, fx.escrowAddress, 2n * PRICE);
    await (await fx.registry.suspendProvider(fx.provider1.address, "x")).wait();
    await expect(as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "NodeNotTrusted")
      .withArgs(fx.node1);
  });
});

describe("SubscriptionEscrow: prepaid time cap", function () {
  it("extensions may reach at most the end of the day of now + 2 * MAX_MONTHS months (ExpiryTooFar)", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, MAX_MONTHS, PRICE, t0);
    const expiry = expiryOf(t0, MAX_MONTHS);
    await setAllowance(fx, fx.alice, MAX_MONTHS * PRICE);
    const t1 = t0 + 10n;
    // Exactly the cap: the midnight after t1 + 48 months.
    const cap1 = endOfDay(t1 + 2n * MAX_MONTHS * MONTH);
    expect(expiry + MAX_MONTHS * MONTH).to.equal(cap1);
    await expect(at(t1, () => as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, MAX_MONTHS, PRICE)))
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, MAX_MONTHS, PRICE, MAX_MONTHS * PRICE, rec({ expiresAt: cap1 }));
    await setAllowance(fx, fx.alice, PRICE);
    const t2 = t1 + 10n;
    await expect(at(t2, () => as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, PRICE)))
      .to.be.revertedWithCustomError(fx.escrow, "ExpiryTooFar")
      .withArgs(cap1 + MONTH, endOfDay(t2 + 2n * MAX_MONTHS * MONTH));
    // A month (and a day) later one more month fits again, up to the new cap.
    const t3 = cap1 - 2n * MAX_MONTHS * MONTH + MONTH;
    expect(endOfDay(t3 + 2n * MAX_MONTHS * MONTH)).to.equal(cap1 + MONTH);
    await expect(at(t3, () => as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, PRICE)))
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 1n, PRICE, PRICE, rec({ expiresAt: cap1 + MONTH }));
  });
});

describe("SubscriptionEscrow: automatic renewal", function () {
  /** alice: node1/clientA, 1 month from t0, opted in for `months` at up to `max`, allowance set. */
  async function optedIn(fx: Fx, months = 1n, max = PRICE) {
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await (await as(fx.escrow, fx.alice).setAutoRenew(fx.node1, fx.clientA, months, max)).wait();
    await setAllowance(fx, fx.alice, months * PRICE);
    const expiry = expiryOf(t0, 1n);
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).expiresAt).to.equal(expiry);
    return { t0, expiry };
  }

  async function expectBlocked(fx: Fx, client: string, reason: Blocker) {
    expect(await fx.escrow.renewalCheck(fx.node1, client)).to.equal(BigInt(reason));
    await expect(as(fx.escrow, fx.stranger).renew(fx.node1, client))
      .to.be.revertedWithCustomError(fx.escrow, "RenewalNotPossible")
      .withArgs(fx.node1, client, BigInt(reason));
  }

  it("setAutoRenew: owner only, stores the choice, months 0 turns it off", async function () {
    const fx = await load();
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    await expect(as(fx.escrow, fx.alice).setAutoRenew(fx.node1, fx.clientA, 3n, 2n * PRICE))
      .to.emit(fx.escrow, "AutoRenewSet")
      .withArgs(fx.node1, fx.clientA, rec({ renewMonths: 3n, renewMaxPricePerMonth: 2n * PRICE }));
    const sub = await recordOf(fx.escrow, fx.node1, fx.clientA);
    expect(sub.renewMonths).to.equal(3n);
    expect(sub.renewMaxPricePerMonth).to.equal(2n * PRICE);
    await expect(as(fx.escrow, fx.bob).setAutoRenew(fx.node1, fx.clientA, 1n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "NotSubscriptionOwner")
      .withArgs(fx.node1, fx.clientA, fx.bob.address, fx.alice.address);
    await expect(as(fx.escrow, fx.alice).setAutoRenew(fx.node1, fx.clientA, MAX_MONTHS + 1n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "InvalidMonths")
      .withArgs(MAX_MONTHS + 1n, MAX_MONTHS);
    await expect(as(fx.escrow, fx.alice).setAutoRenew(fx.node1, fx.clientB, 1n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "NoSubscription")
      .withArgs(fx.node1, fx.clientB);
    await expect(as(fx.escrow, fx.alice).setAutoRenew(fx.node1, fx.clientA, 0n, 0n))
      .to.emit(fx.escrow, "AutoRenewSet")
      .withArgs(fx.node1, fx.clientA, rec({ renewMonths: 0n, renewMaxPricePerMonth: 0n }));
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).renewMonths).to.equal(0n);
    expect(await fx.escrow.renewalCheck(fx.node1, fx.clientA)).to.equal(BigInt(Blocker.NotOptedIn));
  });

  it("anyone renews in the window, from the owner's allowance, extending from the expiry", async function () {
    const fx = await load();
    const { expiry } = await optedIn(fx, 2n, PRICE);
    await time.increaseTo(expiry - RENEWAL_WINDOW - 10n);
    expect(await fx.escrow.renewalCheck(fx.node1, fx.clientA)).to.equal(BigInt(Blocker.OutsideWindow));
    await time.increaseTo(expiry - DAY);
    expect(await fx.escrow.renewalCheck(fx.node1, fx.clientA)).to.equal(BigInt(Blocker.None));
    const tx = await as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA);
    await expect(tx)
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n, PRICE, 2n * PRICE, rec({ expiresAt: expiry + 2n * MONTH }));
    await expect(tx).to.changeTokenBalances(
      ethers,
      fx.token,
      [fx.alice, fx.stranger, fx.escrowAddress],
      [-2n * PRICE, 0n, 2n * PRICE]
    );
    expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
    const sub = await recordOf(fx.escrow, fx.node1, fx.clientA);
    expect(sub.expiresAt).to.equal(expiry + 2n * MONTH);
    expect(sub.owner).to.equal(fx.alice.address);
    expect(sub.renewMonths).to.equal(2n);
    // Renewed: out of the window again until the next one.
    await expectBlocked(fx, fx.clientA, Blocker.OutsideWindow);
    await setAllowance(fx, fx.alice, 2n * PRICE);
    await time.increaseTo(expiry + 2n * MONTH - 3600n);
    await expect(as(fx.escrow, fx.bob).renew(fx.node1, fx.clientA))
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n, PRICE, 2n * PRICE, rec({ expiresAt: expiry + 4n * MONTH }));
  });

  it("the window is [expiry - RENEWAL_WINDOW, expiry)", async function () {
    const fx = await load();
    const { expiry } = await optedIn(fx);
    const snap = await networkHelpers.takeSnapshot();
    await time.increaseTo(expiry - RENEWAL_WINDOW - 2n);
    await expect(at(expiry - RENEWAL_WINDOW - 1n, () => as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA)))
      .to.be.revertedWithCustomError(fx.escrow, "RenewalNotPossible")
      .withArgs(fx.node1, fx.clientA, BigInt(Blocker.OutsideWindow));
    await expect(at(expiry - RENEWAL_WINDOW, () => as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA))).to.emit(
      fx.escrow,
      "Extended"
    );
    await snap.restore();
    await expect(at(expiry - 1n, () => as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA))).to.emit(
      fx.escrow,
      "Extended"
    );
    await snap.restore();
    await expect(at(expiry, () => as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA)))
      .to.be.revertedWithCustomError(fx.escrow, "RenewalNotPossible")
      .withArgs(fx.node1, fx.clientA, BigInt(Blocker.OutsideWindow));
    await time.increaseTo(expiry + 10n * DAY);
    await expectBlocked(fx, fx.clientA, Blocker.OutsideWindow);
  });

  it("renews at the current price when it is within the owner's maximum", async function () {
    const fx = await load();
    const { expiry } = await optedIn(fx, 3n, 2n * PRICE);
    const newPrice = (3n * PRICE) / 2n;
    await (await as(fx.registry, fx.provider1).setNodePrice(fx.node1, newPrice)).wait();
    await setAllowance(fx, fx.alice, 3n * newPrice);
    await time.increaseTo(expiry - DAY);
    await expect(as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA))
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 3n, newPrice, 3n * newPrice, rec({ expiresAt: expiry + 3n * MONTH }));
  });

  describe("renewalCheck and renew report each blocker", function () {
    it("None", async function () {
      const fx = await load();
      const { expiry } = await optedIn(fx);
      await time.increaseTo(expiry - DAY);
      expect(await fx.escrow.renewalCheck(fx.node1, fx.clientA)).to.equal(BigInt(Blocker.None));
    });

    it("NoSubscription", async function () {
      const fx = await load();
      await expectBlocked(fx, fx.clientB, Blocker.NoSubscription);
    });

    it("NotOptedIn", async function () {
      const fx = await load();
      const t0 = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
      await setAllowance(fx, fx.alice, PRICE);
      await time.increaseTo(expiryOf(t0, 1n) - DAY);
      await expectBlocked(fx, fx.clientA, Blocker.NotOptedIn);
    });

    it("OutsideWindow", async function () {
      const fx = await load();
      await optedIn(fx);
      await expectBlocked(fx, fx.clientA, Blocker.OutsideWindow);
    });

    for (const [name, act] of [
      ["suspended provider", (fx: Fx) => fx.registry.suspendProvider(fx.provider1.address, "x")],
      // (A node with paid subscriptions cannot be switched off: see escrow-payments.)
      ["disabled kind", (fx: Fx) => fx.registry.setKindEnabled(fx.kindMail, false)],
      ["removed node", (fx: Fx) => fx.registry.removeNode(fx.node1)],
    ] as const) {
      it(`NodeNotTrusted (${name})`, async function () {
        const fx = await load();
        const { expiry } = await optedIn(fx);
        await act(fx);
        await time.increaseTo(expiry - DAY);
        await expectBlocked(fx, fx.clientA, Blocker.NodeNotTrusted);
      });
    }

    it("PriceAboveMaximum", async function () {
      const fx = await load();
      const { expiry } = await optedIn(fx, 1n, PRICE);
      await (await as(fx.registry, fx.provider1).setNodePrice(fx.node1, PRICE + 1n)).wait();
      await setAllowance(fx, fx.alice, PRICE + 1n);
      await time.increaseTo(expiry - DAY);
      await expectBlocked(fx, fx.clientA, Blocker.PriceAboveMaximum);
    });

    it("InsufficientAllowance", async function () {
      const fx = await load();
      const { expiry } = await optedIn(fx, 2n, PRICE);
      await setAllowance(fx, fx.alice, 2n * PRICE - 1n);
      await time.increaseTo(expiry - DAY);
      await expectBlocked(fx, fx.clientA, Blocker.InsufficientAllowance);
    });

    it("InsufficientBalance", async function () {
      const fx = await load();
      const { expiry } = await optedIn(fx, 2n, PRICE);
      const balance: bigint = await fx.token.balanceOf(fx.alice.address);
      // SNT's controller can move anyone's balance.
      await (await fx.token.controllerTransfer(fx.alice.address, fx.carol.address, balance - 2n * PRICE + 1n)).wait();
      await time.increaseTo(expiry - DAY);
      await expectBlocked(fx, fx.clientA, Blocker.InsufficientBalance);
    });

    it("Paused", async function () {
      const fx = await load();
      const { expiry } = await optedIn(fx);
      await (await fx.escrow.pause()).wait();
      await time.increaseTo(expiry - DAY);
      expect(await fx.escrow.renewalCheck(fx.node1, fx.clientA)).to.equal(BigInt(Blocker.Paused));
      await expectRevertOneOf(() => as(fx.escrow, fx.stranger).renew.staticCall(fx.node1, fx.clientA), fx.escrow, [
        "EnforcedPause",
        "RenewalNotPossible",
      ]);
      await (await fx.escrow.unpause()).wait();
      expect(await fx.escrow.renewalCheck(fx.node1, fx.clientA)).to.equal(BigInt(Blocker.None));
    });

    it("after cancel there is nothing to renew", async function () {
      const fx = await load();
      const { expiry } = await optedIn(fx);
      const optedInRecord = await recordOf(fx.escrow, fx.node1, fx.clientA);
      await (await as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)).wait();
      await time.increaseTo(expiry - DAY);
      // The record is deleted: whatever record is passed (the last one, or none), nothing is stored.
      for (const r of [optedInRecord, EMPTY_SUBSCRIPTION]) {
        expect(await fx.escrow.renewalCheck(fx.node1, fx.clientA, r)).to.equal(BigInt(Blocker.NoSubscription));
        await expect(as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA, r))
          .to.be.revertedWithCustomError(fx.escrow, "RenewalNotPossible")
          .withArgs(fx.node1, fx.clientA, BigInt(Blocker.NoSubscription));
      }
    });
  });

  it("a failed renewal changes nothing", async function () {
    const fx = await load();
    const { expiry } = await optedIn(fx, 2n, PRICE);
    await setAllowance(fx, fx.alice, PRICE);
    await time.increaseTo(expiry - DAY);
    const sub = await recordOf(fx.escrow, fx.node1, fx.clientA);
    const commitment: bigint = await fx.escrow.subscriptionCommitment(fx.node1, fx.clientA);
    const bal: bigint = await fx.token.balanceOf(fx.alice.address);
    await expect(as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA)).to.be.revertedWithCustomError(
      fx.escrow,
      "RenewalNotPossible"
    );
    expect(await fx.escrow.subscriptionCommitment(fx.node1, fx.clientA)).to.equal(commitment);
    expect(await recordOf(fx.escrow, fx.node1, fx.clientA)).to.deep.equal(sub);
    expect(await fx.token.balanceOf(fx.alice.address)).to.equal(bal);
    expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(PRICE);
    const tx = await as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, PRICE);
    expect(await txTime(fx, tx)).to.be.greaterThan(0n);
  });
});
