// SubscriptionEscrow: release to providers, withdraw, cancel and refunds, fees, provider/node
// removal, processing expiries, client-id changes, and "nothing is ever trapped".
//
// Most purchases here are made at a UTC midnight, so that their expiry needs no rounding and
// RATE per second is exact to the wei; purchases at other times are spread over [start, next
// midnight after the paid time] and checked against the exact pro-rata amounts.
import { expect } from "chai";
import { network } from "hardhat";
import {
  DAY,
  MONTH,
  PRECISION,
  PRICE,
  PRICE2,
  RATE,
  as,
  buy,
  dayStart,
  exactUnserved,
  expiryOf,
  newClient,
  middayAhead,
  midnightAhead,
  setAllowance,
  sntFixture,
  unservedAt,
  type Fx,
  rec,
  recordOf,
  currentRecord,
} from "../helpers/escrowFixture.js";

const { ethers, networkHelpers } = await network.create();
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
    const t0 = await midnightAhead(fx);
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
    await time.increaseTo(expiryOf(t0, 1n));
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
    // Everything from the (midnight) expiry on; then nothing more.
    await time.increaseTo(expiryOf(t0, 1n) - 1n);
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
    const t0 = await midnightAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await (await as(fx.registry, fx.provider1).setPayout(fx.stranger.address)).wait();
    await time.increaseTo(t0 + 5n * DAY);
    const tx = await at(t0 + 6n * DAY, () => as(fx.escrow, fx.provider1).withdraw(fx.node1));
    await expect(tx)
      .to.emit(fx.escrow, "Withdrawn")
      .withArgs(fx.node1, fx.provider1.address, fx.stranger.address, RATE * 6n * DAY);
    await expect(tx).to.changeTokenBalances(ethers, fx.token, [fx.stranger, fx.payout1], [RATE * 6n * DAY, 0n]);
  });

  it("releases to the second up to the expiry (rounded to the wei), never more than paid, all of it at the expiry", async function () {
    const fx = await load();
    // Bought at 12:00 for a month: 30.5 days to the midnight expiry, over which PRICE is spread.
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    const expiry = expiryOf(t0, 1n);
    expect(expiry).to.equal(t0 + MONTH + DAY / 2n);
    const samples = [
      t0 + 1n,
      t0 + 12345n,
      t0 + 10n * DAY,
      expiry - DAY,
      t0 + MONTH, // the end of the paid 30 days: half a day still to go
      expiry - 3600n,
      expiry - 1n,
      expiry,
      expiry + 1n,
      expiry + 5n * DAY,
    ];
    let last = 0n;
    for (const s of samples) {
      await time.increaseTo(s);
      const e = await fx.escrow.nodeEarnings(fx.node1);
      // The call runs at the latest block's time or a second later.
      const lo = PRICE - exactUnserved(PRICE, t0, expiry, s) - 1n;
      const hi = PRICE - exactUnserved(PRICE, t0, expiry, s + 1n) + 1n;
      expect(e.earned).to.be.gte(lo, `earned >= pro rata at +${s - t0}s`);
      expect(e.earned).to.be.lte(hi, `earned <= pro rata at +${s - t0}s`);
      expect(e.earned).to.be.lte(PRICE, `earned <= paid at +${s - t0}s`);
      expect(e.earned).to.be.gte(last, `earned never decreases (at +${s - t0}s)`);
      if (s < expiry - 1n) expect(e.earned).to.be.lt(PRICE, `not all before the expiry (at +${s - t0}s)`);
      // The node keeps the remainder rounded up; the subscriber could get it back rounded down.
      if (s < expiry - 1n) {
        const heldAt = (t: bigint) => {
          const rate = (PRICE * PRECISION) / (expiry - t0);
          return (rate * (expiry - t) + PRECISION - 1n) / PRECISION;
        };
        expect([heldAt(s), heldAt(s + 1n)]).to.include(e.unreleased, `unreleased rounded up at +${s - t0}s`);
        const st = await fx.escrow.status(fx.node1, fx.clientA);
        expect([unservedAt(PRICE, t0, expiry, s), unservedAt(PRICE, t0, expiry, s + 1n)]).to.include(
          st.refundableNow,
          `refundable rounded down at +${s - t0}s`
        );
      }
      last = e.earned;
      await expectBalanced(fx);
    }
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(PRICE);
    expect((await fx.escrow.nodeEarnings(fx.node1)).unreleased).to.equal(0n);
  });

  it("withdraw at the expiry second pays everything", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    const expiry = expiryOf(t0, 1n);
    // A second earlier something was still unreleased.
    expect(unservedAt(PRICE, t0, expiry, expiry - 1n)).to.be.gt(0n);
    await expect(at(expiry, () => as(fx.escrow, fx.provider1).withdraw(fx.node1)))
      .to.emit(fx.escrow, "Withdrawn")
      .withArgs(fx.node1, fx.provider1.address, fx.payout1.address, PRICE);
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });

  it("processExpiries releases past days for anyone, a few days at a time", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE, t0 + DAY);
    await buy(fx, fx.carol, fx.node1, fx.clientC, 1n, PRICE, t0 + 2n * DAY);
    // Three expiry days; nothing to do before the first.
    const day1 = expiryOf(t0, 1n) / DAY;
    await time.increaseTo(expiryOf(t0, 1n) - 2n);
    await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 100n)).to.not.emit(
      fx.escrow,
      "ExpiriesProcessed"
    );
    await time.increaseTo(t0 + 2n * MONTH);
    const view = await fx.escrow.nodeEarnings(fx.node1);
    expect(view.earned).to.equal(3n * PRICE);
    await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 0n)).to.not.emit(
      fx.escrow,
      "ExpiriesProcessed"
    );
    // One day at a time. The event names the first day whose expiries are still to be folded:
    // the next pending expiry day, or tomorrow once everything up to today is done.
    await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 1n))
      .to.emit(fx.escrow, "ExpiriesProcessed")
      .withArgs(fx.node1, day1 + 1n, PRICE);
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(3n * PRICE);
    await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 100n))
      .to.emit(fx.escrow, "ExpiriesProcessed")
      .withArgs(fx.node1, dayStart(t0 + 2n * MONTH) / DAY + 1n, 2n * PRICE);
    await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 100n)).to.not.emit(
      fx.escrow,
      "ExpiriesProcessed"
    );
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
    const t0 = await midnightAhead(fx);
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
      const t0 = await midnightAhead(fx);
      await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
      await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE, t0 + DAY);
      await buy(fx, fx.carol, fx.node2, fx.clientC, 1n, PRICE2, t0 + DAY + 20n);
      const removedAt = t0 + 10n * DAY;
      await at(removedAt, () => remove(fx));
      expect(await fx.registry.terminatedAt(fx.node1)).to.equal(removedAt);
      const served = RATE * 10n * DAY;
      const servedB = served - RATE * DAY;
      await time.increaseTo(t0 + 40n * DAY);
      // Frozen at the removal, even after the subscriptions' expiry.
      expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(served + servedB);
      const st = await fx.escrow.status(fx.node1, fx.clientA);
      expect(st.refundableNow).to.equal(2n * PRICE - served);
      expect(st.cancellationFeeNow).to.equal(0n);
      await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1))
        .to.emit(fx.escrow, "Withdrawn")
        .withArgs(fx.node1, fx.provider1.address, fx.payout1.address, served + servedB);
      // Bob's month ended (day 31) after the removal (day 10): still refundable, even later.
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
    const t0 = await midnightAhead(fx);
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
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).owner).to.equal(fx.bob.address);
  });

  it("right after purchase refunds (almost) everything; the refund is rounded down", async function () {
    const fx = await load();
    const t0 = await midnightAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    await expect(at(t0 + 1n, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, PRICE - RATE, 0n);
    // A price that does not divide evenly, bought at 12:00 (30.5 days to the expiry): the refund
    // is the exact unserved part rounded down, at most 1 wei below it.
    const odd = PRICE + 7n;
    await (await as(fx.registry, fx.provider1).setNodePrice(fx.node1, odd)).wait();
    const t1 = t0 + DAY / 2n;
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, odd, t1);
    const expiry = expiryOf(t1, 1n);
    const tc = t1 + 12345n;
    const exact = exactUnserved(odd, t1, expiry, tc);
    const refund = unservedAt(odd, t1, expiry, tc);
    expect(refund).to.be.lte(exact);
    expect(refund).to.be.gte(exact - 1n);
    await expect(at(tc, () => as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB)))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientB, fx.bob.address, refund, 0n);
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(PRICE + odd - (PRICE - RATE) - refund);
    await expectBalanced(fx);
  });

  it("takes the fee locked at purchase and adds it to the provider's earnings", async function () {
    const fx = await load();
    await expect(as(fx.escrow, fx.provider1).setCancellationFee(500n))
      .to.emit(fx.escrow, "CancellationFeeSet")
      .withArgs(fx.provider1.address, 500n);
    expect(await fx.escrow.cancellationFeeBps(fx.provider1.address)).to.equal(500n);
    const t0 = await midnightAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).cancellationFeeBps).to.equal(500n);
    await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
    await buy(fx, fx.bob, fx.node1, fx.clientB, 2n, PRICE, t0 + DAY);
    await (await as(fx.escrow, fx.provider1).setCancellationFee(0n)).wait();
    const unservedA = 2n * PRICE - RATE * 10n * DAY;
    const feeA = (unservedA * 500n) / 10_000n;
    const tx = await at(t0 + 10n * DAY, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA));
    await expect(tx)
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, unservedA - feeA, feeA);
    await expect(tx).to.changeTokenBalance(ethers, fx.token, fx.alice, unservedA - feeA);
    const unservedB = 2n * PRICE - RATE * (9n * DAY + 1n);
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
    // Disabling the kind retires its nodes: release stops then, as at a removal.
    ["kind disabled", true, (fx) => fx.registry.setKindEnabled(fx.kindMail, false)],
    ["provider removed", true, (fx) => fx.registry.removeProvider(fx.provider1.address, "x")],
    ["node removed", true, (fx) => fx.registry.removeNode(fx.node1)],
  ];
  it("a provider cannot switch off a node while subscribers hold paid time", async function () {
    const fx = await load();
    const t0 = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    await expect(as(fx.registry, fx.provider1).setNodeActive(fx.node1, false))
      .to.be.revertedWithCustomError(fx.registry, "NodeHasPaidSubscriptions")
      .withArgs(fx.node1);
    expect(await fx.escrow.holdsUnservedFunds(fx.node1)).to.equal(true);
    // Once every paid subscription ran out, it can (nothing is owed for the time it is off).
    await fx.networkHelpers.time.increaseTo(expiryOf(t0, 1n));
    expect(await fx.escrow.holdsUnservedFunds(fx.node1)).to.equal(false);
    await (await as(fx.registry, fx.provider1).setNodeActive(fx.node1, false)).wait();
    expect(await fx.registry.isTrusted(fx.node1)).to.equal(false);
    // A free node has nothing owed: it can always be switched off.
    await buy(fx, fx.alice, fx.free, fx.clientB, 1n, 0n);
    await (await as(fx.registry, fx.provider1).setNodeActive(fx.free, false)).wait();
  });

  it("only the admin sets the escrow, once", async function () {
    const fx = await load();
    expect(await fx.registry.escrow()).to.equal(fx.escrowAddress);
    await expect(as(fx.registry, fx.stranger).setEscrow(fx.stranger.address)).to.be.revertedWithCustomError(
      fx.registry,
      "AccessControlUnauthorizedAccount"
    );
    await expect(fx.registry.setEscrow(fx.stranger.address))
      .to.be.revertedWithCustomError(fx.registry, "EscrowAlreadySet")
      .withArgs(fx.escrowAddress);
  });

  for (const [name, stopsRelease, act] of distrust) {
    it(`no fee when the node is not trusted (${name})`, async function () {
      const fx = await load();
      await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
      const t0 = await midnightAhead(fx);
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
    const t0 = await midnightAhead(fx);
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
    await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientB))
      .to.be.revertedWithCustomError(fx.escrow, "NoSubscription")
      .withArgs(fx.node1, fx.clientB);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE);
    const bobs = await recordOf(fx.escrow, fx.node1, fx.clientB);
    await (await as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB)).wait();
    // Twice: the record is deleted, so even the one just cancelled is nothing stored.
    await expect(as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB, bobs))
      .to.be.revertedWithCustomError(fx.escrow, "NoSubscription")
      .withArgs(fx.node1, fx.clientB);
    // At its (midnight) expiry it has ended.
    const expiry = expiryOf(t0, 1n);
    await expect(at(expiry, () => as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)))
      .to.be.revertedWithCustomError(fx.escrow, "SubscriptionNotActive")
      .withArgs(fx.node1, fx.clientA, expiry);
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
    const t0 = await midnightAhead(fx);
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
    const t0 = await midnightAhead(fx);
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

describe("SubscriptionEscrow: processing expiries", function () {
  it("releases an ended subscription from its expiry second on, once", async function () {
    const fx = await load();
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    const expiry = expiryOf(t0, 1n);
    // Still running a second before: processing releases nothing of it.
    await at(expiry - 1n, () => as(fx.escrow, fx.stranger).processExpiries(fx.node1, 10n));
    expect((await fx.escrow.nodeEarnings(fx.node1)).unreleased).to.be.gt(0n);
    await expect(at(expiry, () => as(fx.escrow, fx.stranger).processExpiries(fx.node1, 10n)))
      .to.emit(fx.escrow, "ExpiriesProcessed")
      .withArgs(fx.node1, expiry / DAY + 1n, PRICE);
    const e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.equal(PRICE);
    expect(e.unreleased).to.equal(0n);
    await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA))
      .to.be.revertedWithCustomError(fx.escrow, "SubscriptionNotActive")
      .withArgs(fx.node1, fx.clientA, expiry);
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1)).to.changeTokenBalance(
      ethers,
      fx.token,
      fx.payout1,
      PRICE
    );
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
    // Later processing, and buying the key again, do not count it twice.
    await time.increase(3n * DAY);
    await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 10n)).to.not.emit(
      fx.escrow,
      "ExpiriesProcessed"
    );
    await buy(fx, fx.bob, fx.node1, fx.clientA, 1n, PRICE);
    const after = await fx.escrow.nodeEarnings(fx.node1);
    expect(after.earned).to.be.gte(PRICE);
    expect(after.earned).to.be.lte(PRICE + 1n);
    expect(after.unreleased + after.earned).to.equal(2n * PRICE);
    await expectBalanced(fx);
  });

  for (const offset of [0n, 1n]) {
    const when = offset === 0n ? "at" : "a second before";
    it(`removal ${when} a subscription's expiry: ${offset === 0n ? "it has ended and is released to the provider" : "it is still refundable"}`, async function () {
      const fx = await load();
      await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
      const t0 = await middayAhead(fx);
      await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
      const tb = dayStart(t0) + DAY; // a midnight: bob's release is exactly RATE per second
      await buy(fx, fx.bob, fx.node1, fx.clientB, 2n, PRICE, tb);
      const expiryA = expiryOf(t0, 1n);
      const removedAt = expiryA - offset;
      await at(removedAt, () => fx.registry.removeNode(fx.node1));
      await time.increaseTo(expiryA + 10n * DAY);
      const servedB = RATE * (removedAt - tb);
      const unservedA = unservedAt(PRICE, t0, expiryA, removedAt);
      if (offset === 0n) {
        expect(unservedA).to.equal(0n);
        await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA))
          .to.be.revertedWithCustomError(fx.escrow, "SubscriptionNotActive")
          .withArgs(fx.node1, fx.clientA, expiryA);
        expect((await fx.escrow.status(fx.node1, fx.clientA)).refundableNow).to.equal(0n);
        await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 10n))
          .to.emit(fx.escrow, "ExpiriesProcessed")
          .withArgs(fx.node1, expiryA / DAY + 1n, PRICE);
      } else {
        // One second of the 30.5 days left: refunded in full (rounded down), without a fee.
        expect(unservedA).to.be.gt(0n);
        expect(unservedA).to.be.lte(exactUnserved(PRICE, t0, expiryA, removedAt));
        expect((await fx.escrow.status(fx.node1, fx.clientA)).refundableNow).to.equal(unservedA);
        await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 10n)).to.not.emit(
          fx.escrow,
          "ExpiriesProcessed"
        );
        await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA))
          .to.emit(fx.escrow, "Cancelled")
          .withArgs(fx.node1, fx.clientA, fx.alice.address, unservedA, 0n);
      }
      expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(PRICE - unservedA + servedB);
      await expect(as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB))
        .to.emit(fx.escrow, "Cancelled")
        .withArgs(fx.node1, fx.clientB, fx.bob.address, 2n * PRICE - servedB, 0n);
      await (await as(fx.escrow, fx.provider1).withdraw(fx.node1)).wait();
      expect(await fx.token.balanceOf(fx.payout1.address)).to.equal(PRICE - unservedA + servedB);
      expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
      await expectBalanced(fx);
    });
  }
});

describe("SubscriptionEscrow: setClientId", function () {
  it("moves the subscription to a new client id", async function () {
    const fx = await load();
    const t0 = await midnightAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t0);
    const before = await recordOf(fx.escrow, fx.node1, fx.clientA);
    const commitment: bigint = await fx.escrow.subscriptionCommitment(fx.node1, fx.clientA);
    // The record moves unchanged (it does not name its client id), and the event carries it whole.
    await expect(as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB))
      .to.emit(fx.escrow, "ClientIdChanged")
      .withArgs(fx.node1, fx.clientA, fx.clientB, rec(before));
    expect(await fx.escrow.subscriptionCommitment(fx.node1, fx.clientB)).to.equal(commitment);
    expect(await fx.escrow.subscriptionCommitment(fx.node1, fx.clientA)).to.equal(0n);
    expect(await recordOf(fx.escrow, fx.node1, fx.clientB)).to.deep.equal(before);
    expect(await currentRecord(fx.escrow, fx.node1, fx.clientA)).to.equal(undefined);
    expect(await fx.escrow.isCurrent(fx.node1, fx.clientA, before)).to.equal(false);
    expect(await fx.escrow.expiries([fx.node1, fx.node1], [fx.clientA, fx.clientB])).to.deep.equal([0n, before.expiresAt]);
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
    // Taken up to its (midnight) expiry, free from then on.
    const expiryB = expiryOf(t0, 1n);
    await expect(at(expiryB - 1n, () => as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB)))
      .to.be.revertedWithCustomError(fx.escrow, "ClientIdTaken")
      .withArgs(fx.node1, fx.clientB);
    const alices = await recordOf(fx.escrow, fx.node1, fx.clientA);
    const bobs = await recordOf(fx.escrow, fx.node1, fx.clientB);
    const moved = await at(expiryB, () => as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB));
    await expect(moved).to.emit(fx.escrow, "ClientIdChanged").withArgs(fx.node1, fx.clientA, fx.clientB, rec(alices));
    // Bob's lapsed record is simply overwritten: the move is the only thing announced, and
    // bob's record is gone for good.
    const receipt = await moved.wait();
    expect(receipt!.logs.map((l: { topics: string[]; data: string }) => fx.escrow.interface.parseLog(l)?.name)).to.deep.equal([
      "ClientIdChanged",
    ]);
    expect(await recordOf(fx.escrow, fx.node1, fx.clientB)).to.deep.equal(alices);
    expect(await fx.escrow.isCurrent(fx.node1, fx.clientB, bobs)).to.equal(false);
    // Bob's segment stayed in its expiry bucket, which releases exactly his payment to the
    // provider when processed (anyone may process; withdraw does it too).
    await expect(at(expiryB + 1n, () => as(fx.escrow, fx.stranger).processExpiries(fx.node1, 10n)))
      .to.emit(fx.escrow, "ExpiriesProcessed")
      .withArgs(fx.node1, expiryB / DAY + 1n, PRICE);
    const mid = await fx.escrow.nodeEarnings(fx.node1);
    // What alice's segment released by now is what it no longer holds (rounded as the escrow does).
    const aliceHeld = (t: bigint) => {
      const rate = (alices.paid * PRECISION) / (alices.expiresAt - alices.start);
      return (rate * (alices.expiresAt - t) + PRECISION - 1n) / PRECISION;
    };
    // (A view runs at the latest block's time or a second later.)
    expect([aliceHeld(expiryB + 1n), aliceHeld(expiryB + 2n)]).to.include(mid.unreleased);
    expect(mid.earned).to.equal(PRICE + 3n * PRICE - mid.unreleased);
    await time.increaseTo(expiryOf(t0 + 100n, 3n));
    const e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.equal(4n * PRICE);
    expect(e.unreleased).to.equal(0n);
    await (await as(fx.escrow, fx.provider1).withdraw(fx.node1)).wait();
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });
});

describe("SubscriptionEscrow: setClientId after a removal", function () {
  it("cannot take over (and release) a subscription that a removal cut short: ClientIdTaken, its owner still gets the refund", async function () {
    const fx = await load();
    const t0 = await midnightAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 3n, PRICE, t0);
    const tb = t0 + 100n;
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE, tb);
    const removedAt = t0 + 10n * DAY;
    await at(removedAt, () => fx.registry.removeProvider(fx.provider1.address, "gone"));
    // Bob's month is over by the clock, but it was cut short at day 10: the rest is his.
    await time.increaseTo(expiryOf(tb, 1n) + 10n * DAY);
    const bobRefund = unservedAt(PRICE, tb, expiryOf(tb, 1n), removedAt);
    expect(bobRefund).to.be.lte(exactUnserved(PRICE, tb, expiryOf(tb, 1n), removedAt));
    expect(bobRefund).to.be.gte(exactUnserved(PRICE, tb, expiryOf(tb, 1n), removedAt) - 1n);
    expect((await fx.escrow.status(fx.node1, fx.clientB)).refundableNow).to.equal(bobRefund);
    await expect(as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB))
      .to.be.revertedWithCustomError(fx.escrow, "ClientIdTaken")
      .withArgs(fx.node1, fx.clientB);
    await expect(as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientB))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientB, fx.bob.address, bobRefund, 0n);
    // Alice's 10 days (exact: bought at a midnight) and what bob did not get back.
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(RATE * 10n * DAY + PRICE - bobRefund);
    await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 3n * PRICE - RATE * 10n * DAY, 0n);
    await (await as(fx.escrow, fx.provider1).withdraw(fx.node1)).wait();
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });

  it("may take over a subscription that ended before the removal (judged at the removal time)", async function () {
    const fx = await load();
    const t0 = await midnightAhead(fx);
    await buy(fx, fx.bob, fx.node1, fx.clientB, 1n, PRICE, t0);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 3n, PRICE, t0 + 100n);
    const expiryB = t0 + MONTH;
    await at(expiryB, () => fx.registry.removeNode(fx.node1));
    await time.increaseTo(expiryB + 5n * DAY);
    expect((await fx.escrow.status(fx.node1, fx.clientB)).refundableNow).to.equal(0n);
    await expect(as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, fx.clientB))
      .to.emit(fx.escrow, "ClientIdChanged")
      .withArgs(fx.node1, fx.clientA, fx.clientB, rec({ owner: fx.alice.address }));
    // Bob's month went to the provider; alice cancels under the new key, as of the removal.
    const aliceRefund = unservedAt(3n * PRICE, t0 + 100n, expiryOf(t0 + 100n, 3n), expiryB);
    await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientB))
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientB, fx.alice.address, aliceRefund, 0n);
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(4n * PRICE - aliceRefund);
    await (await as(fx.escrow, fx.provider1).withdraw(fx.node1)).wait();
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });
});

describe("SubscriptionEscrow: nothing is ever trapped", function () {
  it("after removals, cancels, processed expiries and withdrawals the escrow holds nothing", async function () {
    const fx = await load();
    const { escrow, registry, node1, node2, free, alice, bob, carol, provider1, provider2, clientA, clientB, clientC } =
      fx;
    const clientD = newClient().address;
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
    // Bob's month (now under clientD) ended before provider1's removal: not refundable, released
    // to the provider by processing (anyone may call it; withdraw does it too).
    const subD = await recordOf(escrow, node1, clientD);
    expect(subD.expiresAt).to.be.lte(t0 + 40n * DAY + 7n);
    await expect(as(escrow, bob).cancel(node1, clientD))
      .to.be.revertedWithCustomError(escrow, "SubscriptionNotActive")
      .withArgs(node1, clientD, subD.expiresAt);
    // Processed up to the removal's day (release stops there).
    await expect(as(escrow, fx.stranger).processExpiries(node1, 2n ** 256n - 1n))
      .to.emit(escrow, "ExpiriesProcessed")
      .withArgs(node1, (t0 + 40n * DAY + 7n) / DAY + 1n, PRICE);
    await expectBalanced(fx);
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
