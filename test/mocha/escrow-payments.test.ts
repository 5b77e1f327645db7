// SubscriptionEscrow: release to providers, withdraw, cancel and refunds, fees, provider/node
// removal, settle, client-id changes, and "nothing is ever trapped".
import { expect } from "chai";
import { network } from "hardhat";
import {
  DAY,
  MONTH,
  PRICE,
  PRICE2,
  RATE,
  as,
  buy,
  dayStart,
  expectRevertOneOf,
  middayAhead,
  setAllowance,
  sntFixture,
  type Fx,
} from "../helpers/escrowFixture.js";

const { ethers, networkHelpers } = await network.connect();
const load = (): Promise<Fx> => networkHelpers.loadFixture(sntFixture);
const { time } = networkHelpers;

async function expectBalanced(fx: Fx) {
  let held = 0n;
  for (const n of [fx.node1, fx.node2, fx.free]) {
    const e = await fx.escrow.nodeEarnings(n);
    expect(e.earned).to.equal(e.withdrawn + e.withdrawable, "earned = withdrawn + withdrawable");
    held += e.unreleased + e.withdrawable;
  }
  expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(held, "escrow balance = unreleased + withdrawable");
}

/** Send a transaction at exactly `t`; returns the transaction. */
async function at<T>(t: bigint, send: () => Promise<T>): Promise<T> {
  await time.setNextBlockTimestamp(t);
  return send();
}

describe("SubscriptionEscrow: release and withdraw", function () {
  it("releases linearly per second and pays the provider's payout address", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
    await time.increaseTo(t0 + 10n * DAY);
    let e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.be.closeTo(RATE * 10n * DAY, 2n * RATE);
    expect(e.withdrawn).to.equal(0n);
    expect(e.withdrawable).to.equal(e.earned);
    expect(e.unreleased + e.earned).to.equal(2n * PRICE);
    await expectBalanced(fx);
    const amount = RATE * 20n * DAY;
    await expect(at(t0 + 20n * DAY, () => as(fx.escrow, fx.provider1).withdraw(fx.node1)))
      .to.emit(fx.escrow, "Withdrawn")
      .withArgs(fx.node1, fx.provider1.address, fx.payout1.address, amount);
    expect(await fx.token.balanceOf(fx.payout1.address)).to.equal(amount);
    expect(await fx.token.balanceOf(fx.provider1.address)).to.equal(0n);
    e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.withdrawn).to.equal(amount);
    expect(e.withdrawable).to.be.lte(2n * RATE);
    await expectBalanced(fx);
  });

  it("withdraw returns the amount paid", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await time.increaseTo(t0 + MONTH + 2n * DAY);
    expect(await as(fx.escrow, fx.provider1).withdraw.staticCall(fx.node1)).to.equal(PRICE);
  });

  it("only the node's provider withdraws; NothingToWithdraw when nothing is due", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await time.increaseTo(t0 + DAY);
    for (const s of [fx.stranger, fx.provider2, fx.payout1, fx.alice]) {
      await expect(as(fx.escrow, s).withdraw(fx.node1))
        .to.be.revertedWithCustomError(fx.escrow, "NotNodeProvider")
        .withArgs(fx.node1, s.address);
    }
    await expect(as(fx.escrow, fx.provider2).withdraw(fx.node2))
      .to.be.revertedWithCustomError(fx.escrow, "NothingToWithdraw")
      .withArgs(fx.node2);
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.free)).to.be.revertedWithCustomError(
      fx.escrow,
      "NothingToWithdraw"
    );
    // Everything, once the expiry day is over; then nothing more.
    await time.increaseTo(t0 + MONTH + DAY);
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1)).to.changeTokenBalances(
      ethers,
      fx.token,
      [fx.payout1, fx.escrowAddress],
      [PRICE, -PRICE]
    );
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1))
      .to.be.revertedWithCustomError(fx.escrow, "NothingToWithdraw")
      .withArgs(fx.node1);
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });

  it("pays the payout address currently set in the registry", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await (await as(fx.registry, fx.provider1).setPayout(fx.stranger.address)).wait();
    await time.increaseTo(t0 + 5n * DAY);
    const tx = await at(t0 + 6n * DAY, () => as(fx.escrow, fx.provider1).withdraw(fx.node1));
    await expect(tx)
      .to.emit(fx.escrow, "Withdrawn")
      .withArgs(fx.node1, fx.provider1.address, fx.stranger.address, RATE * 6n * DAY);
    await expect(tx).to.changeTokenBalances(ethers, fx.token, [fx.stranger, fx.payout1], [RATE * 6n * DAY, 0n]);
  });

  it("never releases more than paid; the expiry day counts in full once it is over", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    const expiry = t0 + MONTH;
    const samples = [
      expiry - 2n * DAY,
      dayStart(expiry) - 1n,
      dayStart(expiry) + 3600n,
      expiry - 1n,
      expiry + 1n,
      dayStart(expiry) + DAY - 10n,
      dayStart(expiry) + DAY + 1n,
      dayStart(expiry) + 5n * DAY,
    ];
    let last = 0n;
    for (const s of samples) {
      await time.increaseTo(s);
      const e = await fx.escrow.nodeEarnings(fx.node1);
      expect(e.earned).to.be.lte(PRICE, `earned <= paid at +${s - t0}s`);
      expect(e.earned).to.be.gte(last, `earned never decreases (at +${s - t0}s)`);
      last = e.earned;
      await expectBalanced(fx);
    }
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(PRICE);
    expect((await fx.escrow.nodeEarnings(fx.node1)).unreleased).to.equal(0n);
  });

  it("processExpiries releases past days for anyone, a few days at a time", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE, t0 + DAY);
    await buy(fx, fx.carol, fx.node1, fx.clientC, 1n, PRICE, t0 + 2n * DAY);
    await time.increaseTo(t0 + 2n * MONTH);
    await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 1n)).to.emit(fx.escrow, "ExpiriesProcessed");
    await (await as(fx.escrow, fx.stranger).processExpiries(fx.node1, 100n)).wait();
    const e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.equal(3n * PRICE);
    expect(e.unreleased).to.equal(0n);
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1)).to.changeTokenBalance(
      ethers,
      fx.token,
      fx.payout1,
      3n * PRICE
    );
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });

  it("withdraw works while paused and while the provider is suspended", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await (await fx.escrow.pause()).wait();
    await (await fx.registry.suspendProvider(fx.provider1.address, "audit")).wait();
    await expect(at(t0 + 3n * DAY, () => as(fx.escrow, fx.provider1).withdraw(fx.node1)))
      .to.emit(fx.escrow, "Withdrawn")
      .withArgs(fx.node1, fx.provider1.address, fx.payout1.address, RATE * 3n * DAY);
  });

  const removals: [string, (fx: Fx) => Promise<unknown>][] = [
    ["provider removed", (fx) => fx.registry.removeProvider(fx.provider1.address, "fraud")],
    ["node removed by the curator", (fx) => fx.registry.removeNode(fx.node1)],
    ["node removed by its provider", (fx) => as(fx.registry, fx.provider1).removeNode(fx.node1)],
  ];
  for (const [name, remove] of removals) {
    it(`${name}: release stops at the removal, the provider keeps what it earned, subscribers get the rest without a fee`, async function () {
      const fx = await load();
      await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
      const t0 = await middayAhead(fx);
      await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
      await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE, t0 + 10n);
      await buy(fx, fx.carol, fx.node2, fx.clientC, 1n, PRICE2, t0 + 20n);
      const removedAt = t0 + 10n * DAY;
      await at(removedAt, () => remove(fx));
      expect(await fx.registry.terminatedAt(fx.node1)).to.equal(removedAt);
      const served = RATE * 10n * DAY;
      const servedB = served - 10n * RATE;
      await time.increaseTo(t0 + 40n * DAY);
      // Frozen at the removal, even after the subscriptions' expiry.
      expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(served + servedB);
      const st = await fx.escrow.status(fx.node1, fx.clientA);
      expect(st.refundableNow).to.equal(2n * PRICE - served);
      expect(st.cancellationFeeNow).to.equal(0n);
      await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1))
        .to.emit(fx.escrow, "Withdrawn")
        .withArgs(fx.node1, fx.provider1.address, fx.payout1.address, served + servedB);
      // Bob's month ended (day 30) after the removal (day 10): still refundable, even later.
      await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA))
        .to.emit(fx.escrow, "Cancelled")
        .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n * PRICE - served, 0n);
      await time.increaseTo(t0 + 100n * DAY);
      await expect(as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB))
        .to.emit(fx.escrow, "Cancelled")
        .withArgs(fx.node1, fx.clientB, fx.bob.address, PRICE - servedB, 0n);
      expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(served + servedB);
      // The other provider's node is untouched.
      expect((await fx.escrow.nodeEarnings(fx.node2)).earned).to.equal(PRICE2);
      await (await as(fx.escrow, fx.provider2).withdraw(fx.node2)).wait();
      expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
      await expectBalanced(fx);
      // Nothing can be bought or extended on the removed node.
      await setAllowance(fx, fx.alice, PRICE);
      await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 1n, PRICE)).to.be.revertedWithCustomError(
        fx.escrow,
        "NodeNotTrusted"
      );
    });
  }
});

describe("SubscriptionEscrow: cancel", function () {
  it("refunds exactly the unserved part, and the served part goes to the provider", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 3n, PRICE, t0);
    const served = RATE * 10n * DAY;
    const tx = await at(t0 + 10n * DAY, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA));
    await expect(tx)
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 3n * PRICE - served, 0n);
    await expect(tx).to.changeTokenBalances(
      ethers,
      fx.token,
      [fx.alice, fx.escrowAddress],
      [3n * PRICE - served, -(3n * PRICE - served)]
    );
    const st = await fx.escrow.status(fx.node1, fx.clientA);
    expect(st.active).to.equal(false);
    expect(st.refundableNow).to.equal(0n);
    const e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.equal(served);
    expect(e.unreleased).to.equal(0n);
    await expectBalanced(fx);
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1)).to.changeTokenBalance(
      ethers,
      fx.token,
      fx.payout1,
      served
    );
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
    // The key is free again.
    await buy(fx, fx.bob, fx.node1, fx.clientA, 1n, PRICE);
    expect((await fx.escrow.getSubscription(fx.node1, fx.clientA)).owner).to.equal(fx.bob.address);
  });

  it("right after purchase refunds (almost) everything; served time is rounded up", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await expect(at(t0 + 1n, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, PRICE - RATE, 0n);
    // A price that does not divide evenly: the served part is rounded up, the refund down.
    const odd = PRICE + 7n;
    await (await as(fx.registry, fx.provider1).setNodePrice(fx.node1, odd)).wait();
    const t1 = await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, odd);
    const tx = await at(t1 + 12345n, () => as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB));
    const servedUp = (odd * 12345n + MONTH - 1n) / MONTH;
    await expect(tx)
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientB, fx.bob.address, odd - servedUp, 0n);
  });

  it("takes the fee locked at purchase and adds it to the provider's earnings", async function () {
    const fx = await load();
    await expect(as(fx.escrow, fx.provider1).setCancellationFee(500n))
      .to.emit(fx.escrow, "CancellationFeeSet")
      .withArgs(fx.provider1.address, 500n);
    expect(await fx.escrow.cancellationFeeBps(fx.provider1.address)).to.equal(500n);
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
    expect((await fx.escrow.getSubscription(fx.node1, fx.clientA)).cancellationFeeBps).to.equal(500n);
    await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
    await buy(fx, fx.bob, fx.node1, fx.clientB, 2n, PRICE, t0 + 100n);
    await (await as(fx.escrow, fx.provider1).setCancellationFee(0n)).wait();
    const unservedA = 2n * PRICE - RATE * 10n * DAY;
    const feeA = (unservedA * 500n) / 10_000n;
    const tx = await at(t0 + 10n * DAY, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA));
    await expect(tx)
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, unservedA - feeA, feeA);
    await expect(tx).to.changeTokenBalance(ethers, fx.token, fx.alice, unservedA - feeA);
    const unservedB = 2n * PRICE - RATE * (10n * DAY + 1n - 100n);
    const feeB = unservedB / 10n;
    await expect(at(t0 + 10n * DAY + 1n, () => as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB)))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientB, fx.bob.address, unservedB - feeB, feeB);
    const e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.equal(4n * PRICE - unservedA - unservedB + feeA + feeB);
    expect(e.unreleased).to.equal(0n);
    await expectBalanced(fx);
  });

  it("setCancellationFee: at most 10%, providers only", async function () {
    const fx = await load();
    await expect(as(fx.escrow, fx.provider1).setCancellationFee(1001n))
      .to.be.revertedWithCustomError(fx.escrow, "FeeTooHigh")
      .withArgs(1001n, 1000n);
    await expect(as(fx.escrow, fx.stranger).setCancellationFee(100n))
      .to.be.revertedWithCustomError(fx.escrow, "NotAProvider")
      .withArgs(fx.stranger.address);
    await (await as(fx.escrow, fx.provider2).setCancellationFee(1000n)).wait();
    expect(await fx.escrow.cancellationFeeBps(fx.provider2.address)).to.equal(1000n);
    expect(await fx.escrow.cancellationFeeBps(fx.provider1.address)).to.equal(0n);
  });

  const distrust: [string, boolean, (fx: Fx) => Promise<unknown>][] = [
    ["provider suspended", false, (fx) => fx.registry.suspendProvider(fx.provider1.address, "x")],
    ["node inactive", false, (fx) => as(fx.registry, fx.provider1).setNodeActive(fx.node1, false)],
    ["kind disabled", false, (fx) => fx.registry.setKindEnabled(fx.kindMail, false)],
    ["provider removed", true, (fx) => fx.registry.removeProvider(fx.provider1.address, "x")],
    ["node removed", true, (fx) => fx.registry.removeNode(fx.node1)],
  ];
  for (const [name, stopsRelease, act] of distrust) {
    it(`no fee when the node is not trusted (${name})`, async function () {
      const fx = await load();
      await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
      const t0 = await middayAhead(fx);
      await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
      await at(t0 + 10n * DAY, () => act(fx));
      const served = RATE * (stopsRelease ? 10n : 20n) * DAY;
      const st = await fx.escrow.status(fx.node1, fx.clientA);
      expect(st.cancellationFeeNow).to.equal(0n);
      await expect(at(t0 + 20n * DAY, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)))
        .to.emit(fx.escrow, "Cancelled")
        .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n * PRICE - served, 0n);
      expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(served);
      await (await as(fx.escrow, fx.provider1).withdraw(fx.node1)).wait();
      expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
    });
  }

  it("the fee applies again once the provider is reinstated", async function () {
    const fx = await load();
    await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
    await (await fx.registry.suspendProvider(fx.provider1.address, "x")).wait();
    await (await fx.registry.reinstateProvider(fx.provider1.address)).wait();
    const unserved = 2n * PRICE - RATE * 10n * DAY;
    await expect(at(t0 + 10n * DAY, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, unserved - unserved / 10n, unserved / 10n);
  });

  it("owner only; not active, twice, unknown and lapsed are refused", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await expect(as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientA))
      .to.be.revertedWithCustomError(fx.escrow, "NotSubscriptionOwner")
      .withArgs(fx.node1, fx.clientA, fx.bob.address, fx.alice.address);
    await expectRevertOneOf(() => as(fx.escrow, fx.alice).cancel.staticCall(fx.node1, fx.clientB), fx.escrow, [
      "NoSubscription",
      "SubscriptionNotActive",
    ]);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE);
    await (await as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB)).wait();
    await expectRevertOneOf(() => as(fx.escrow, fx.bob).cancel.staticCall(fx.node1, fx.clientB), fx.escrow, [
      "NoSubscription",
      "SubscriptionNotActive",
    ]);
    await expect(as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB)).to.revert(ethers);
    await time.increaseTo(t0 + MONTH);
    await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA))
      .to.be.revertedWithCustomError(fx.escrow, "SubscriptionNotActive")
      .withArgs(fx.node1, fx.clientA, t0 + MONTH);
  });

  it("cancelling a free subscription refunds nothing", async function () {
    const fx = await load();
    await (await as(fx.escrow, fx.alice).subscribe(fx.free, fx.clientA, 3n, 0n)).wait();
    await time.increase(DAY);
    const tx = await as(fx.escrow, fx.alice).cancel(fx.free, fx.clientA);
    await expect(tx).to.emit(fx.escrow, "Cancelled").withArgs(fx.free, fx.clientA, fx.alice.address, 0n, 0n);
    await expect(tx).to.changeTokenBalance(ethers, fx.token, fx.alice, 0n);
    expect((await fx.escrow.status(fx.free, fx.clientA)).active).to.equal(false);
  });

  it("refunds the unserved part of an extension too", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await setAllowance(fx, fx.alice, 2n * PRICE);
    await at(t0 + 10n * DAY, () => as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 2n, PRICE));
    await expect(at(t0 + 20n * DAY, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 3n * PRICE - RATE * 20n * DAY, 0n);
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(RATE * 20n * DAY);
  });

  it("refund + served = paid after an extension at another price", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await (await as(fx.registry, fx.provider1).setNodePrice(fx.node1, 3n * PRICE + 11n)).wait();
    await setAllowance(fx, fx.alice, 3n * PRICE + 11n);
    await at(t0 + 10n * DAY, () => as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, 3n * PRICE + 11n));
    const paid = 4n * PRICE + 11n;
    const tx = await at(t0 + 45n * DAY + 17n, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA));
    const rc = await tx.wait();
    const ev = rc!.logs
      .map((l: { topics: string[]; data: string }) => fx.escrow.interface.parseLog(l))
      .find((l: { name?: string } | null) => l?.name === "Cancelled");
    const refund: bigint = ev!.args.refund;
    const earned: bigint = (await fx.escrow.nodeEarnings(fx.node1)).earned;
    expect(refund + earned).to.equal(paid);
    // Served: 10 days at the first rate, then the rest of the segment pro rata.
    const firstSegment = RATE * 10n * DAY;
    const rest = paid - firstSegment;
    const segment = t0 + 2n * MONTH - (t0 + 10n * DAY);
    const expectedServed = firstSegment + (rest * (35n * DAY + 17n)) / segment;
    expect(earned).to.be.closeTo(expectedServed, 2n);
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(earned);
  });
});

describe("SubscriptionEscrow: settle", function () {
  it("releases an ended subscription on its expiry day at once", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await expect(as(fx.escrow, fx.stranger).settle(fx.node1, fx.clientA)).to.revert(ethers); // still active
    await time.increaseTo(t0 + MONTH + 60n);
    await (await as(fx.escrow, fx.stranger).settle(fx.node1, fx.clientA)).wait();
    const e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.equal(PRICE);
    expect(e.unreleased).to.equal(0n);
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1)).to.changeTokenBalance(
      ethers,
      fx.token,
      fx.payout1,
      PRICE
    );
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
    // Later day processing does not count it twice.
    await time.increase(3n * DAY);
    await (await as(fx.escrow, fx.stranger).processExpiries(fx.node1, 10n)).wait();
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(PRICE);
    await expectBalanced(fx);
  });

  it("releases a subscription that ended on the day its node was removed", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 2n, PRICE, t0 + 100n);
    const expiry = t0 + MONTH;
    await at(expiry + 3600n, () => fx.registry.removeNode(fx.node1));
    await time.increaseTo(expiry + 10n * DAY);
    await (await as(fx.escrow, fx.stranger).settle(fx.node1, fx.clientA)).wait();
    const served = RATE * (MONTH + 3600n - 100n);
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(PRICE + served);
    await expect(as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientB, fx.bob.address, 2n * PRICE - served, 0n);
    await (await as(fx.escrow, fx.provider1).withdraw(fx.node1)).wait();
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
    await expectBalanced(fx);
  });
});

describe("SubscriptionEscrow: setClientId", function () {
  it("moves the subscription to a new client id", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
    const before = await fx.escrow.getSubscription(fx.node1, fx.clientA);
    await expect(as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB))
      .to.emit(fx.escrow, "ClientIdChanged")
      .withArgs(fx.node1, fx.clientA, fx.clientB, fx.alice.address);
    const moved = await fx.escrow.getSubscription(fx.node1, fx.clientB);
    expect(moved.owner).to.equal(fx.alice.address);
    expect(moved.expiresAt).to.equal(before.expiresAt);
    expect(moved.paid).to.equal(before.paid);
    expect((await fx.escrow.getSubscription(fx.node1, fx.clientA)).owner).to.equal(ethers.ZeroAddress);
    expect((await fx.escrow.status(fx.node1, fx.clientA)).active).to.equal(false);
    expect((await fx.escrow.status(fx.node1, fx.clientB)).active).to.equal(true);
    // The old key can be bought again; the moved one cancels under its new key.
    await buy(fx, fx.bob, fx.node1, fx.clientA, 1n, PRICE);
    await expect(at(t0 + 10n * DAY, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientB)))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientB, fx.alice.address, 2n * PRICE - RATE * 10n * DAY, 0n);
  });

  it("refuses a non-owner, a zero id, an unknown subscription and a taken id", async function () {
    const fx = await load();
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE);
    await expect(as(fx.escrow, fx.bob).setClientId(fx.node1, fx.clientA, fx.clientC))
      .to.be.revertedWithCustomError(fx.escrow, "NotSubscriptionOwner")
      .withArgs(fx.node1, fx.clientA, fx.bob.address, fx.alice.address);
    await expect(
      as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, ethers.ZeroAddress)
    ).to.be.revertedWithCustomError(fx.escrow, "ZeroAddress");
    await expect(as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB))
      .to.be.revertedWithCustomError(fx.escrow, "ClientIdTaken")
      .withArgs(fx.node1, fx.clientB);
    await expect(as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientC, fx.clientA))
      .to.be.revertedWithCustomError(fx.escrow, "NoSubscription")
      .withArgs(fx.node1, fx.clientC);
  });

  it("may take over the id of a lapsed subscription, whose payment still goes to the provider", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE, t0);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 3n, PRICE, t0 + 100n);
    await time.increaseTo(t0 + MONTH + 1n);
    await expect(as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB)).to.emit(
      fx.escrow,
      "ClientIdChanged"
    );
    expect((await fx.escrow.getSubscription(fx.node1, fx.clientB)).owner).to.equal(fx.alice.address);
    await time.increaseTo(t0 + 3n * MONTH + DAY);
    const e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.equal(4n * PRICE);
    await (await as(fx.escrow, fx.provider1).withdraw(fx.node1)).wait();
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });
});

describe("SubscriptionEscrow: setClientId after a removal", function () {
  it("cannot take over (and release) a subscription that a removal cut short: its owner still gets the refund", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 3n, PRICE, t0);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE, t0 + 100n);
    await at(t0 + 10n * DAY, () => fx.registry.removeProvider(fx.provider1.address, "gone"));
    // Bob's month is over by the clock, but it was cut short at day 10: the rest is his.
    await time.increaseTo(t0 + 40n * DAY);
    const bobRefund = PRICE - RATE * (10n * DAY - 100n);
    expect((await fx.escrow.status(fx.node1, fx.clientB)).refundableNow).to.equal(bobRefund);
    try {
      await (await as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB)).wait();
    } catch {
      // Refusing (ClientIdTaken) is a correct answer too.
    }
    await expect(as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientB, fx.bob.address, bobRefund, 0n);
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(RATE * (20n * DAY - 100n));
  });
});

describe("SubscriptionEscrow: nothing is ever trapped", function () {
  it("after removals, cancels, settles and withdrawals the escrow holds nothing", async function () {
    const fx = await load();
    const { escrow, registry, node1, node2, free, alice, bob, carol, provider1, provider2, clientA, clientB, clientC } =
      fx;
    const clientD = ethers.Wallet.createRandom().address;
    const people = [alice, bob, carol, fx.payout1, fx.payout2];
    const start: bigint[] = [];
    for (const p of people) start.push(await fx.token.balanceOf(p.address));

    await (await as(escrow, provider1).setCancellationFee(500n)).wait();
    await (await as(escrow, provider2).setCancellationFee(300n)).wait();
    const t0 = await middayAhead(fx);
    await buy(fx, alice, node1, clientA, 3n, PRICE, t0);
    await buy(fx, bob, node1, clientB, 1n, PRICE, t0 + 100n);
    await buy(fx, carol, node2, clientC, 2n, PRICE2, t0 + 200n);
    await buy(fx, alice, node2, clientA, 6n, PRICE2, t0 + 300n);
    await (await as(escrow, bob).subscribe(free, clientC, 2n, 0n)).wait();

    await setAllowance(fx, alice, 2n * PRICE);
    await at(t0 + 5n * DAY, () => as(escrow, alice).extend(node1, clientA, 2n, PRICE));
    await (await as(registry, provider2).setNodePrice(node2, 3n * PRICE + 5n)).wait();
    await setAllowance(fx, carol, 3n * PRICE + 5n);
    await (await as(escrow, carol).extend(node2, clientC, 1n, 3n * PRICE + 5n)).wait();
    await at(t0 + 12n * DAY, () => as(escrow, bob).setClientId(node1, clientB, clientD));
    await at(t0 + 20n * DAY, () => as(escrow, provider1).withdraw(node1));
    await at(t0 + 35n * DAY, () => as(escrow, alice).cancel(node2, clientA));
    await at(t0 + 40n * DAY + 7n, () => registry.removeProvider(provider1.address, "gone"));
    await at(t0 + 45n * DAY + 3n, () => as(registry, provider2).removeNode(node2));
    await expectBalanced(fx);
    await time.increaseTo(t0 + 60n * DAY);
    await (await as(escrow, alice).cancel(node1, clientA)).wait();
    await (await as(escrow, carol).cancel(node2, clientC)).wait();
    await expectBalanced(fx);
    try {
      await (await as(escrow, fx.stranger).settle(node1, clientD)).wait();
    } catch {
      // Already released by day processing.
    }
    for (const [p, n] of [
      [provider1, node1],
      [provider1, free],
      [provider2, node2],
    ] as const) {
      if ((await escrow.nodeEarnings(n)).withdrawable > 0n) await (await as(escrow, p).withdraw(n)).wait();
    }
    for (const n of [node1, node2, free]) {
      const e = await escrow.nodeEarnings(n);
      expect(e.unreleased, "unreleased").to.equal(0n);
      expect(e.withdrawable, "withdrawable").to.equal(0n);
    }
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
    let net = 0n;
    for (let i = 0; i < people.length; i++) net += (await fx.token.balanceOf(people[i].address)) - start[i];
    expect(net).to.equal(0n);
  });
});
