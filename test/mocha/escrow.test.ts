// SubscriptionEscrow: buying (subscribe, permit, approveAndCall), token quirks, pause, views and
// reentrancy. Payments/refunds are in escrow-payments.test.ts, extend/renew in escrow-renewal.test.ts.
import { expect } from "chai";
import { network } from "hardhat";
import { anyValue } from "@nomicfoundation/hardhat-ethers-chai-matchers/withArgs";
import { Signature, type Contract } from "ethers";
import {
  Action,
  DAY,
  MAX_MONTHS,
  MONTH,
  PRICE,
  PRICE2,
  RATE,
  RENEWAL_WINDOW,
  approvalData,
  as,
  buy,
  dayStart,
  expectRevertOneOf,
  expiryOf,
  exactUnserved,
  feeFixture,
  middayAhead,
  midnightAhead,
  now,
  permitFixture,
  plainFixture,
  reentrantFixture,
  setAllowance,
  snapshotState,
  sntFixture,
  txTime,
  unservedAt,
  type Fx,
  ANY_FEE,
  consentFor,
  rec,
  recordOf,
  extensionData,
  Blocker,
  commitmentOf,
  eventRecord,
  forgeries,
  miniMeFixture,
  type SubRecord,
} from "../helpers/escrowFixture.js";
import { EMPTY_SUBSCRIPTION, toStoredSubscription } from "@status/mailserver-sdk";

const { ethers, networkHelpers } = await network.create();
const load = (f: typeof sntFixture): Promise<Fx> => networkHelpers.loadFixture(f);

describe("SubscriptionEscrow: set-up", function () {
  it("exposes its constants, token and registry", async function () {
    const { escrow, registry, token } = await load(sntFixture);
    expect(await escrow.MONTH()).to.equal(MONTH);
    expect(await escrow.MAX_MONTHS()).to.equal(MAX_MONTHS);
    expect(await escrow.MAX_CANCELLATION_FEE_BPS()).to.equal(1000n);
    expect(await escrow.RENEWAL_WINDOW()).to.equal(RENEWAL_WINDOW);
    expect(await escrow.token()).to.equal(await token.getAddress());
    expect(await escrow.registry()).to.equal(await registry.getAddress());
    expect(await escrow.paused()).to.equal(false);
  });
});

describe("SubscriptionEscrow: subscribe", function () {
  it("pulls price * months, records the subscription (expiry on the next midnight) and emits Subscribed", async function () {
    const fx = await load(sntFixture);
    const { escrow, token, node1, alice, clientA, escrowAddress } = fx;
    await setAllowance(fx, alice, 3n * PRICE);
    const t = await middayAhead(fx);
    // Bought at 12:00: the paid 90 days end at 12:00, the subscription at the following midnight.
    const expiry = dayStart(t) + 3n * MONTH + DAY;
    expect(expiryOf(t, 3n)).to.equal(expiry);
    await networkHelpers.time.setNextBlockTimestamp(t);
    const tx = await as(escrow, alice).subscribe(node1, clientA, 3n, PRICE);
    const expected = {
      owner: alice.address,
      start: t,
      expiresAt: expiry,
      cancellationFeeBps: 0n,
      paid: 3n * PRICE,
      renewMonths: 0n,
      renewMaxPricePerMonth: 0n,
    };
    // The event carries the whole record; the escrow stores only its commitment.
    await expect(tx).to.emit(escrow, "Subscribed").withArgs(node1, clientA, alice.address, 3n, PRICE, rec(expected));
    await expect(tx).to.changeTokenBalances(ethers, token, [alice, escrowAddress], [-3n * PRICE, 3n * PRICE]);
    expect(await recordOf(escrow, node1, clientA)).to.deep.equal(expected);
    expect(await escrow.subscriptionCommitment(node1, clientA)).to.equal(commitmentOf(expected));
    expect(await token.allowance(alice.address, escrowAddress)).to.equal(0n);
    const st = await escrow.status(node1, clientA);
    expect(st.active).to.equal(true);
    expect(st.owner).to.equal(alice.address);
    expect(st.expiresAt).to.equal(expiry);
    // 90 days and 12 hours left: the half day the expiry's rounding added is no month of its own.
    expect(st.monthsLeft).to.equal(3n);
  });

  it("a purchase at a midnight ends exactly months * MONTH later", async function () {
    const fx = await load(sntFixture);
    const t = await midnightAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE, t);
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).expiresAt).to.equal(t + 2n * MONTH);
    expect((await fx.escrow.status(fx.node1, fx.clientA)).monthsLeft).to.equal(2n);
    // An hour after midnight: the rest of that day is added.
    await buy(fx, fx.alice, fx.node1, fx.clientB, 2n, PRICE, t + 3600n);
    expect((await recordOf(fx.escrow, fx.node1, fx.clientB)).expiresAt).to.equal(t + 2n * MONTH + DAY);
  });

  it("accepts 1 and MAX_MONTHS months, rejects 0 and MAX_MONTHS + 1", async function () {
    const fx = await load(sntFixture);
    const { escrow, node1, alice, clientA, clientB } = fx;
    await setAllowance(fx, alice, PRICE);
    await expect(as(escrow, alice).subscribe(node1, clientA, 0n, PRICE))
      .to.be.revertedWithCustomError(escrow, "InvalidMonths")
      .withArgs(0n, MAX_MONTHS);
    await expect(as(escrow, alice).subscribe(node1, clientA, MAX_MONTHS + 1n, PRICE))
      .to.be.revertedWithCustomError(escrow, "InvalidMonths")
      .withArgs(MAX_MONTHS + 1n, MAX_MONTHS);
    await expect(as(escrow, alice).subscribe(node1, clientA, 1n, PRICE)).to.emit(escrow, "Subscribed");
    await setAllowance(fx, alice, MAX_MONTHS * PRICE);
    const tx = await as(escrow, alice).subscribe(node1, clientB, MAX_MONTHS, PRICE);
    const t = await txTime(fx, tx);
    expect((await recordOf(escrow, node1, clientB)).expiresAt).to.equal(expiryOf(t, MAX_MONTHS));
  });

  it("rejects an unknown node", async function () {
    const fx = await load(sntFixture);
    const unknown = ethers.id("no such node");
    await setAllowance(fx, fx.alice, PRICE);
    await expect(as(fx.escrow, fx.alice).subscribe(unknown, fx.clientA, 1n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "NodeNotTrusted")
      .withArgs(unknown);
  });

  const untrusted: [string, (fx: Fx) => Promise<unknown>][] = [
    ["provider suspended", (fx) => fx.registry.suspendProvider(fx.provider1.address, "audit")],
    ["provider removed", (fx) => fx.registry.removeProvider(fx.provider1.address, "gone")],
    ["node inactive", (fx) => as(fx.registry, fx.provider1).setNodeActive(fx.node1, false)],
    ["node removed", (fx) => as(fx.registry, fx.provider1).removeNode(fx.node1)],
    ["kind disabled", (fx) => fx.registry.setKindEnabled(fx.kindMail, false)],
  ];
  for (const [name, act] of untrusted) {
    it(`rejects a node that is not trusted (${name})`, async function () {
      const fx = await load(sntFixture);
      await act(fx);
      await setAllowance(fx, fx.alice, PRICE);
      await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 1n, PRICE))
        .to.be.revertedWithCustomError(fx.escrow, "NodeNotTrusted")
        .withArgs(fx.node1);
      const q = await fx.escrow.quote(fx.node1, 1n);
      expect(q.trusted).to.equal(false);
    });
  }

  it("rejects a price above the caller's maximum", async function () {
    const fx = await load(sntFixture);
    await setAllowance(fx, fx.alice, 2n * PRICE);
    await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 2n, PRICE - 1n))
      .to.be.revertedWithCustomError(fx.escrow, "PriceAboveMaximum")
      .withArgs(fx.node1, PRICE, PRICE - 1n);
    // A higher maximum is fine: the node's price is charged, not the maximum.
    await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 2n, PRICE * 10n))
      .to.emit(fx.escrow, "Subscribed")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n, PRICE, rec({ paid: 2n * PRICE }));
  });

  it("rejects a zero client id", async function () {
    const fx = await load(sntFixture);
    await setAllowance(fx, fx.alice, PRICE);
    await expect(
      as(fx.escrow, fx.alice).subscribe(fx.node1, ethers.ZeroAddress, 1n, PRICE)
    ).to.be.revertedWithCustomError(fx.escrow, "ZeroAddress");
  });

  it("rejects a second subscription on an active (node, client), whoever pays", async function () {
    const fx = await load(sntFixture);
    const t = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    await setAllowance(fx, fx.alice, PRICE);
    await setAllowance(fx, fx.bob, PRICE);
    for (const s of [fx.alice, fx.bob]) {
      await expect(as(fx.escrow, s).subscribe(fx.node1, fx.clientA, 1n, PRICE))
        .to.be.revertedWithCustomError(fx.escrow, "SubscriptionIsActive")
        .withArgs(fx.node1, fx.clientA, expiryOf(t, 1n));
    }
    // The same client on another node, and another client on the same node, are separate keys.
    await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientB, 1n, PRICE)).to.emit(fx.escrow, "Subscribed");
    await setAllowance(fx, fx.bob, PRICE2);
    await expect(as(fx.escrow, fx.bob).subscribe(fx.node2, fx.clientA, 1n, PRICE2)).to.emit(fx.escrow, "Subscribed");
  });

  it("lets anyone buy a lapsed (node, client) again, and the old payment goes to the provider", async function () {
    const fx = await load(sntFixture);
    const t = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    const alices = await recordOf(fx.escrow, fx.node1, fx.clientA);
    // From its (midnight) expiry on, the key is free.
    await networkHelpers.time.increaseTo(expiryOf(t, 1n) - 1n);
    const t2 = await buy(fx, fx.bob, fx.node1, fx.clientA, 2n, PRICE);
    expect((await fx.escrow.status(fx.node1, fx.clientA)).active).to.equal(true);
    // Alice's lapsed record is simply overwritten by bob's.
    const sub = await recordOf(fx.escrow, fx.node1, fx.clientA);
    expect(sub.owner).to.equal(fx.bob.address);
    expect(sub.start).to.equal(t2);
    expect(sub.expiresAt).to.equal(expiryOf(t2, 2n));
    expect(sub.paid).to.equal(2n * PRICE);
    expect(await fx.escrow.isCurrent(fx.node1, fx.clientA, alices)).to.equal(false);
    await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA, alices))
      .to.be.revertedWithCustomError(fx.escrow, "SubscriptionRecordMismatch")
      .withArgs(fx.node1, fx.clientA);
    const e = await fx.escrow.nodeEarnings(fx.node1);
    // Alice's month in full, bob's at most a rounding wei.
    expect(e.earned).to.be.gte(PRICE);
    expect(e.earned).to.be.lte(PRICE + 1n);
    expect(e.unreleased + e.withdrawable).to.equal(await fx.token.balanceOf(fx.escrowAddress));
    // Her segment stayed in its expiry bucket: processing releases exactly her payment.
    await expect(as(fx.escrow, fx.stranger).processExpiries(fx.node1, 10n))
      .to.emit(fx.escrow, "ExpiriesProcessed")
      .withArgs(fx.node1, alices.expiresAt / DAY + 1n, PRICE);
    // Bob's two months are all his to cancel: only the seconds since his purchase are served.
    const tc = await txTime(fx, await as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientA));
    const bobRefund = unservedAt(2n * PRICE, t2, sub.expiresAt, tc);
    expect((await fx.escrow.nodeEarnings(fx.node1)).earned).to.equal(PRICE + 2n * PRICE - bobRefund);
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(PRICE + 2n * PRICE - bobRefund);
  });

  it("sells a free node (price 0) without any allowance or transfer", async function () {
    const fx = await load(sntFixture);
    const t = await midnightAhead(fx);
    await networkHelpers.time.setNextBlockTimestamp(t);
    const tx = await as(fx.escrow, fx.alice).subscribe(fx.free, fx.clientA, 12n, 0n);
    await expect(tx)
      .to.emit(fx.escrow, "Subscribed")
      .withArgs(fx.free, fx.clientA, fx.alice.address, 12n, 0n, rec({ paid: 0n, expiresAt: t + 12n * MONTH }));
    await expect(tx).to.changeTokenBalances(ethers, fx.token, [fx.alice, fx.escrowAddress], [0n, 0n]);
    const st = await fx.escrow.status(fx.free, fx.clientA);
    expect(st.active).to.equal(true);
    expect(st.refundableNow).to.equal(0n);
    expect(st.monthsLeft).to.equal(12n);
  });

  it("refuses amounts that do not fit the stored uint96", async function () {
    const fx = await load(sntFixture);
    const max96 = 2n ** 96n - 1n;
    await as(fx.registry, fx.provider1).setNodePrice(fx.node1, max96);
    await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 2n, max96))
      .to.be.revertedWithCustomError(fx.escrow, "AmountTooLarge")
      .withArgs(2n * max96, anyValue);
  });

  it("reports a MiniMe transferFrom that returns false as TokenTransferFailed", async function () {
    const fx = await load(sntFixture);
    const { escrow, node1, alice, clientA, tokenAddress, escrowAddress } = fx;
    // Allowance too low: SNT returns false instead of reverting.
    await setAllowance(fx, alice, 3n * PRICE - 1n);
    await expect(as(escrow, alice).subscribe(node1, clientA, 3n, PRICE))
      .to.be.revertedWithCustomError(escrow, "TokenTransferFailed")
      .withArgs(tokenAddress, alice.address, escrowAddress, 3n * PRICE);
    // Balance too low.
    const [, , , , , , , , , poor] = await ethers.getSigners();
    await setAllowance(fx, poor, 3n * PRICE);
    await (await fx.token.generateTokens(poor.address, PRICE)).wait();
    await expect(as(escrow, poor).subscribe(node1, clientA, 3n, PRICE))
      .to.be.revertedWithCustomError(escrow, "TokenTransferFailed")
      .withArgs(tokenAddress, poor.address, escrowAddress, 3n * PRICE);
    expect((await escrow.status(node1, clientA)).active).to.equal(false);
  });

  it("refuses a fee-on-transfer token (ReceivedAmountMismatch)", async function () {
    const fx = await load(feeFixture);
    await setAllowance(fx, fx.alice, 3n * PRICE);
    await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 3n, PRICE))
      .to.be.revertedWithCustomError(fx.escrow, "ReceivedAmountMismatch")
      .withArgs(3n * PRICE, (3n * PRICE * 99n) / 100n);
  });

  it("bubbles up a standard ERC-20's revert on a missing allowance", async function () {
    const fx = await load(plainFixture);
    await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 1n, PRICE)).to.be.revertedWithCustomError(
      fx.token,
      "ERC20InsufficientAllowance"
    );
  });

  it("works with a standard ERC-20 too", async function () {
    const fx = await load(plainFixture);
    await (await as(fx.token, fx.alice).approve(fx.escrowAddress, 2n * PRICE)).wait();
    await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 2n, PRICE)).to.changeTokenBalances(
      ethers,
      fx.token,
      [fx.alice, fx.escrowAddress],
      [-2n * PRICE, 2n * PRICE]
    );
  });

  it("accounts for what it received even when the SNT controller moves escrow funds in", async function () {
    const fx = await load(sntFixture);
    // Tokens forced into the escrow by the controller are not anyone's subscription payment.
    await (await fx.token.controllerTransfer(fx.carol.address, fx.escrowAddress, 5n * PRICE)).wait();
    const t = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    await networkHelpers.time.increaseTo(expiryOf(t, 1n));
    const e = await fx.escrow.nodeEarnings(fx.node1);
    expect(e.earned).to.equal(PRICE);
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1)).to.changeTokenBalances(
      ethers,
      fx.token,
      [fx.payout1, fx.escrowAddress],
      [PRICE, -PRICE]
    );
  });

  it("changes nothing when a call fails", async function () {
    const fx = await load(sntFixture);
    const { escrow, node1, alice, bob, clientA, clientB } = fx;
    await buy(fx, alice, node1, clientA, 2n, PRICE);
    await setAllowance(fx, alice, PRICE);
    await setAllowance(fx, bob, PRICE - 1n);
    const keys: [string, string][] = [
      [node1, clientA],
      [node1, clientB],
    ];
    const before = await snapshotState(fx, keys);
    const failing = [
      () => as(escrow, alice).subscribe(node1, clientA, 1n, PRICE),
      () => as(escrow, alice).subscribe(node1, clientB, 0n, PRICE),
      () => as(escrow, alice).subscribe(node1, clientB, 1n, PRICE - 1n),
      () => as(escrow, bob).subscribe(node1, clientB, 1n, PRICE),
      () => as(escrow, bob).extend(node1, clientA, 1n, PRICE),
      () => as(escrow, bob).cancel(node1, clientA),
      () => as(escrow, bob).setClientId(node1, clientA, clientB),
      () => as(escrow, alice).extend(node1, clientA, 1n, PRICE - 1n),
      () => as(escrow, bob).withdraw(node1),
      () => as(escrow, alice).renew(node1, clientA),
    ];
    for (const call of failing) await expect(call()).to.revert(ethers);
    expect(await snapshotState(fx, keys)).to.deep.equal(before);
  });
});

describe("SubscriptionEscrow: subscribeWithPermit", function () {
  async function signPermit(fx: Fx, value: bigint, deadline: bigint, owner = fx.alice) {
    const nonce: bigint = await fx.token.nonces(owner.address);
    const { chainId } = await ethers.provider.getNetwork();
    const sig = await owner.signTypedData(
      { name: "Permit Token", version: "1", chainId, verifyingContract: fx.tokenAddress },
      {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      { owner: owner.address, spender: fx.escrowAddress, value, nonce, deadline }
    );
    return Signature.from(sig);
  }

  it("subscribes in one transaction with a permit", async function () {
    const fx = await load(permitFixture);
    const deadline = (await now(fx)) + 3600n;
    const sig = await signPermit(fx, 3n * PRICE, deadline);
    const tx = await as(fx.escrow, fx.alice).subscribeWithPermit(
      fx.node1,
      fx.clientA,
      3n,
      PRICE,
      deadline,
      sig.v,
      sig.r,
      sig.s
    );
    await expect(tx)
      .to.emit(fx.escrow, "Subscribed")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 3n, PRICE, rec({ owner: fx.alice.address, paid: 3n * PRICE }));
    await expect(tx).to.changeTokenBalances(ethers, fx.token, [fx.alice, fx.escrowAddress], [-3n * PRICE, 3n * PRICE]);
    expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
    expect(await recordOf(fx.escrow, fx.node1, fx.clientA)).to.deep.equal(await eventRecord(fx.escrow, tx, "Subscribed"));
  });

  it("returns the record its event carries", async function () {
    const fx = await load(permitFixture);
    const deadline = (await now(fx)) + 3600n;
    const sig = await signPermit(fx, 2n * PRICE, deadline);
    const t = (await now(fx)) + 60n;
    await networkHelpers.time.setNextBlockTimestamp(t);
    const args = [fx.node1, fx.clientA, 2n, PRICE, deadline, sig.v, sig.r, sig.s];
    const returned = toStoredSubscription(await as(fx.escrow, fx.alice).subscribeWithPermit.staticCall(...args, { blockTag: "pending" }));
    const tx = await as(fx.escrow, fx.alice).subscribeWithPermit(...args);
    expect(await txTime(fx, tx)).to.equal(t);
    expect(returned).to.deep.equal(await eventRecord(fx.escrow, tx, "Subscribed"));
    expect(returned).to.deep.include({ owner: fx.alice.address, start: t, expiresAt: expiryOf(t, 2n), paid: 2n * PRICE });
    expect(await fx.escrow.isCurrent(fx.node1, fx.clientA, returned)).to.equal(true);
  });

  it("still succeeds when a front-runner used the permit first", async function () {
    const fx = await load(permitFixture);
    const deadline = (await now(fx)) + 3600n;
    const sig = await signPermit(fx, 3n * PRICE, deadline);
    await (
      await as(fx.token, fx.stranger).permit(
        fx.alice.address,
        fx.escrowAddress,
        3n * PRICE,
        deadline,
        sig.v,
        sig.r,
        sig.s
      )
    ).wait();
    await expect(
      as(fx.escrow, fx.alice).subscribeWithPermit(fx.node1, fx.clientA, 3n, PRICE, deadline, sig.v, sig.r, sig.s)
    ).to.emit(fx.escrow, "Subscribed");
  });

  it("fails with a bad permit and no allowance, and checks the same rules as subscribe", async function () {
    const fx = await load(permitFixture);
    const deadline = (await now(fx)) + 3600n;
    const sig = await signPermit(fx, 3n * PRICE - 1n, deadline);
    await expect(
      as(fx.escrow, fx.alice).subscribeWithPermit(fx.node1, fx.clientA, 3n, PRICE, deadline, sig.v, sig.r, sig.s)
    ).to.revert(ethers);
    const good = await signPermit(fx, 3n * PRICE, deadline);
    await expect(
      as(fx.escrow, fx.alice).subscribeWithPermit(
        fx.node1,
        fx.clientA,
        3n,
        PRICE - 1n,
        deadline,
        good.v,
        good.r,
        good.s
      )
    ).to.be.revertedWithCustomError(fx.escrow, "PriceAboveMaximum");
    await expect(
      as(fx.escrow, fx.alice).subscribeWithPermit(fx.node1, fx.clientA, 0n, PRICE, deadline, good.v, good.r, good.s)
    ).to.be.revertedWithCustomError(fx.escrow, "InvalidMonths");
    expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(0n);
  });
});

describe("SubscriptionEscrow: approveAndCall (MiniMe)", function () {
  it("subscribes in one transaction and leaves no allowance behind", async function () {
    const fx = await load(sntFixture);
    const data = approvalData(ethers, Action.Subscribe, fx.node1, fx.clientA, 3n, PRICE, await consentFor(fx.escrow, fx.node1, fx.clientA, fx.alice.address));
    const t = await middayAhead(fx);
    await networkHelpers.time.setNextBlockTimestamp(t);
    const tx = await as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, 3n * PRICE, data);
    await expect(tx)
      .to.emit(fx.escrow, "Subscribed")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 3n, PRICE, rec({ paid: 3n * PRICE, expiresAt: expiryOf(t, 3n) }));
    await expect(tx).to.changeTokenBalances(ethers, fx.token, [fx.alice, fx.escrowAddress], [-3n * PRICE, 3n * PRICE]);
    expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).owner).to.equal(fx.alice.address);
  });

  it("extends in one transaction", async function () {
    const fx = await load(sntFixture);
    const t = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    const record = await recordOf(fx.escrow, fx.node1, fx.clientA);
    const data = extensionData(ethers, fx.node1, fx.clientA, 2n, PRICE, record);
    // A static struct: 12 words, the first one the action.
    expect(ethers.dataLength(data)).to.equal(12 * 32);
    const tx = await as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, 2n * PRICE, data);
    const te = await txTime(fx, tx);
    const extended = { ...record, start: te, expiresAt: expiryOf(t, 1n) + 2n * MONTH, paid: unservedAt(PRICE, t, expiryOf(t, 1n), te) + 2n * PRICE };
    await expect(tx)
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n, PRICE, 2n * PRICE, rec(extended));
    await expect(tx).to.changeTokenBalances(ethers, fx.token, [fx.alice, fx.escrowAddress], [-2n * PRICE, 2n * PRICE]);
    expect(await recordOf(fx.escrow, fx.node1, fx.clientA)).to.deep.equal(extended);
    expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
    // Only the owner can extend this way too (with the true record).
    const bobData = extensionData(ethers, fx.node1, fx.clientA, 1n, PRICE, extended);
    await expect(as(fx.token, fx.bob).approveAndCall(fx.escrowAddress, PRICE, bobData))
      .to.be.revertedWithCustomError(fx.escrow, "NotSubscriptionOwner")
      .withArgs(fx.node1, fx.clientA, fx.bob.address, fx.alice.address);
  });

  it("subscribes to a free node with a zero approval", async function () {
    const fx = await load(sntFixture);
    const data = approvalData(ethers, Action.Subscribe, fx.free, fx.clientA, 1n, 0n, await consentFor(fx.escrow, fx.free, fx.clientA, fx.alice.address));
    await expect(as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, 0n, data)).to.emit(fx.escrow, "Subscribed");
  });

  it("rejects a direct call (CallerNotToken)", async function () {
    const fx = await load(sntFixture);
    await setAllowance(fx, fx.alice, PRICE);
    const data = approvalData(ethers, Action.Subscribe, fx.node1, fx.clientA, 1n, PRICE, await consentFor(fx.escrow, fx.node1, fx.clientA, fx.alice.address));
    await expect(as(fx.escrow, fx.alice).receiveApproval(fx.alice.address, PRICE, fx.tokenAddress, data))
      .to.be.revertedWithCustomError(fx.escrow, "CallerNotToken")
      .withArgs(fx.alice.address, fx.tokenAddress);
    // Someone else spending alice's approval through the escrow: same error, nothing moves.
    await expect(as(fx.escrow, fx.bob).receiveApproval(fx.alice.address, PRICE, fx.tokenAddress, data))
      .to.be.revertedWithCustomError(fx.escrow, "CallerNotToken")
      .withArgs(fx.bob.address, fx.tokenAddress);
  });

  it("rejects approveAndCall from another MiniMe token (CallerNotToken)", async function () {
    const fx = await load(sntFixture);
    const other = await ethers.deployContract("SNTLikeToken");
    await (await other.generateTokens(fx.alice.address, PRICE)).wait();
    const data = approvalData(ethers, Action.Subscribe, fx.node1, fx.clientA, 1n, PRICE, await consentFor(fx.escrow, fx.node1, fx.clientA, fx.alice.address));
    await expect(as(other, fx.alice).approveAndCall(fx.escrowAddress, PRICE, data))
      .to.be.revertedWithCustomError(fx.escrow, "CallerNotToken")
      .withArgs(await other.getAddress(), fx.tokenAddress);
  });

  it("rejects a token argument that is not the payment token (WrongToken)", async function () {
    const fx = await load(sntFixture);
    await networkHelpers.impersonateAccount(fx.tokenAddress);
    await networkHelpers.setBalance(fx.tokenAddress, 10n ** 18n);
    const tokenSigner = await ethers.getSigner(fx.tokenAddress);
    const data = approvalData(ethers, Action.Subscribe, fx.node1, fx.clientA, 1n, PRICE, await consentFor(fx.escrow, fx.node1, fx.clientA, fx.alice.address));
    const wrong = fx.stranger.address;
    await expect(as(fx.escrow, tokenSigner).receiveApproval(fx.alice.address, PRICE, wrong, data))
      .to.be.revertedWithCustomError(fx.escrow, "WrongToken")
      .withArgs(wrong, fx.tokenAddress);
  });

  it("requires the approved amount to equal the total exactly", async function () {
    const fx = await load(sntFixture);
    const data = approvalData(ethers, Action.Subscribe, fx.node1, fx.clientA, 3n, PRICE, await consentFor(fx.escrow, fx.node1, fx.clientA, fx.alice.address));
    for (const amount of [3n * PRICE - 1n, 3n * PRICE + 1n, 0n]) {
      await expect(as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, amount, data))
        .to.be.revertedWithCustomError(fx.escrow, "ApprovedAmountMismatch")
        .withArgs(amount, 3n * PRICE);
      expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
    }
  });

  it("rejects malformed data and changes nothing", async function () {
    const fx = await load(sntFixture);
    const before = await snapshotState(fx, [[fx.node1, fx.clientA]]);
    const coder = ethers.AbiCoder.defaultAbiCoder();
    const bad = [
      "0x",
      "0x1234",
      coder.encode(["uint8", "bytes32", "address", "uint256", "uint256"], [2, fx.node1, fx.clientA, 1n, PRICE]),
      coder.encode(["uint8", "bytes32"], [0, fx.node1]),
    ];
    for (const data of bad) {
      await expect(as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, PRICE, data)).to.revert(ethers);
    }
    expect(await snapshotState(fx, [[fx.node1, fx.clientA]])).to.deep.equal(before);
  });

  it("applies the subscribe rules (months, trust, maximum price)", async function () {
    const fx = await load(sntFixture);
    const consent = await consentFor(fx.escrow, fx.node1, fx.clientA, fx.alice.address);
    const enc = (months: bigint, max: bigint) =>
      approvalData(ethers, Action.Subscribe, fx.node1, fx.clientA, months, max, consent);
    await expect(as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, 0n, enc(0n, PRICE)))
      .to.be.revertedWithCustomError(fx.escrow, "InvalidMonths")
      .withArgs(0n, MAX_MONTHS);
    await expect(as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, PRICE, enc(1n, PRICE - 1n)))
      .to.be.revertedWithCustomError(fx.escrow, "PriceAboveMaximum")
      .withArgs(fx.node1, PRICE, PRICE - 1n);
    await (await fx.registry.suspendProvider(fx.provider1.address, "x")).wait();
    await expect(as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, PRICE, enc(1n, PRICE)))
      .to.be.revertedWithCustomError(fx.escrow, "NodeNotTrusted")
      .withArgs(fx.node1);
  });
});

describe("SubscriptionEscrow: pause", function () {
  it("only a registry curator pauses and unpauses", async function () {
    const fx = await load(sntFixture);
    await expect(as(fx.escrow, fx.stranger).pause())
      .to.be.revertedWithCustomError(fx.escrow, "NotCurator")
      .withArgs(fx.stranger.address);
    await expect(as(fx.escrow, fx.admin).pause()).to.emit(fx.escrow, "Paused").withArgs(fx.admin.address);
    expect(await fx.escrow.paused()).to.equal(true);
    await expect(as(fx.escrow, fx.provider1).unpause())
      .to.be.revertedWithCustomError(fx.escrow, "NotCurator")
      .withArgs(fx.provider1.address);
    // A curator added later in the registry can unpause.
    await (await fx.registry.grantRole(await fx.registry.CURATOR_ROLE(), fx.carol.address)).wait();
    await expect(as(fx.escrow, fx.carol).unpause()).to.emit(fx.escrow, "Unpaused").withArgs(fx.carol.address);
    expect(await fx.escrow.paused()).to.equal(false);
  });

  it("blocks buying, extending and renewing, but not cancelling, processing expiries or withdrawing", async function () {
    const fx = await load(sntFixture);
    const { escrow, node1, alice, bob, clientA, clientB, clientC } = fx;
    const t = await buy(fx, alice, node1, clientA, 2n, PRICE);
    const tb = await buy(fx, bob, node1, clientB, 1n, PRICE);
    await (await as(escrow, alice).setAutoRenew(node1, clientA, 1n, PRICE)).wait();
    await (await as(escrow, fx.admin).pause()).wait();
    await setAllowance(fx, alice, PRICE);
    await expect(as(escrow, alice).subscribe(node1, clientC, 1n, PRICE)).to.be.revertedWithCustomError(
      escrow,
      "EnforcedPause"
    );
    await expect(as(escrow, alice).extend(node1, clientA, 1n, PRICE)).to.be.revertedWithCustomError(
      escrow,
      "EnforcedPause"
    );
    const data = approvalData(ethers, Action.Subscribe, node1, clientC, 1n, PRICE, await consentFor(escrow, node1, clientC, alice.address));
    await setAllowance(fx, alice, 0n);
    await expect(as(fx.token, alice).approveAndCall(fx.escrowAddress, PRICE, data)).to.be.revertedWithCustomError(
      escrow,
      "EnforcedPause"
    );
    // Release bob's ended subscription while paused.
    await networkHelpers.time.increaseTo(expiryOf(tb, 1n));
    await expect(as(escrow, fx.stranger).processExpiries(node1, 10n))
      .to.emit(escrow, "ExpiriesProcessed")
      .withArgs(node1, expiryOf(tb, 1n) / DAY + 1n, PRICE);
    await setAllowance(fx, alice, PRICE);
    await networkHelpers.time.increaseTo(expiryOf(t, 2n) - DAY);
    expect(await escrow.renewalCheck(node1, clientA)).to.equal(8n); // Paused
    await expectRevertOneOf(() => as(escrow, fx.stranger).renew.staticCall(node1, clientA), escrow, [
      "EnforcedPause",
      "RenewalNotPossible",
    ]);
    await expect(as(escrow, fx.stranger).renew(node1, clientA)).to.revert(ethers);
    // Cancel and withdraw while paused.
    await expect(as(escrow, alice).cancel(node1, clientA)).to.emit(escrow, "Cancelled");
    await expect(as(escrow, fx.provider1).withdraw(node1)).to.emit(escrow, "Withdrawn");
    await (await as(escrow, fx.admin).unpause()).wait();
    await setAllowance(fx, alice, PRICE);
    await expect(as(escrow, alice).subscribe(node1, clientC, 1n, PRICE)).to.emit(escrow, "Subscribed");
  });
});

describe("SubscriptionEscrow: views", function () {
  it("quote: trusted node, untrusted node, unknown node", async function () {
    const fx = await load(sntFixture);
    await (await as(fx.escrow, fx.provider1).setCancellationFee(250n)).wait();
    const t = await middayAhead(fx);
    await networkHelpers.time.increaseTo(t);
    let q = await fx.escrow.quote(fx.node1, 5n);
    expect(q.trusted).to.equal(true);
    expect(q.provider).to.equal(fx.provider1.address);
    expect(q.pricePerMonth).to.equal(PRICE);
    expect(q.months).to.equal(5n);
    expect(q.total).to.equal(5n * PRICE);
    // Rounded up to the next midnight, like a purchase now.
    expect(q.expiresAt).to.equal(dayStart(t) + 5n * MONTH + DAY);
    expect(q.expiresAt).to.equal(expiryOf(t, 5n));
    expect(q.cancellationFeeBps).to.equal(250n);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 5n, PRICE, t + 60n);
    expect((await recordOf(fx.escrow, fx.node1, fx.clientA)).expiresAt).to.equal(q.expiresAt);
    q = await fx.escrow.quote(fx.node2, 1n);
    expect(q.provider).to.equal(fx.provider2.address);
    expect(q.total).to.equal(PRICE2);
    expect(q.cancellationFeeBps).to.equal(0n);
    await (await fx.registry.suspendProvider(fx.provider2.address, "x")).wait();
    expect((await fx.escrow.quote(fx.node2, 1n)).trusted).to.equal(false);
    q = await fx.escrow.quote(ethers.id("unknown"), 1n);
    expect(q.trusted).to.equal(false);
    expect(q.provider).to.equal(ethers.ZeroAddress);
  });

  it("status: none, active (months left rounded up), lapsed", async function () {
    const fx = await load(sntFixture);
    let st = await fx.escrow.status(fx.node1, fx.clientA);
    expect(st.active).to.equal(false);
    expect(st.owner).to.equal(ethers.ZeroAddress);
    expect(st.expiresAt).to.equal(0n);
    expect(st.monthsLeft).to.equal(0n);
    expect(st.refundableNow).to.equal(0n);
    const t = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 3n, PRICE, t);
    const expiry = expiryOf(t, 3n); // 90.5 days later
    // A month counts once more than a day of it is left: ceil((left - 1 day) / MONTH).
    await networkHelpers.time.increaseTo(t + MONTH);
    st = await fx.escrow.status(fx.node1, fx.clientA);
    expect(st.monthsLeft).to.equal(2n); // 60.5 days left
    await networkHelpers.time.increaseTo(t + MONTH + DAY);
    st = await fx.escrow.status(fx.node1, fx.clientA);
    expect(st.monthsLeft).to.equal(2n);
    // Spread over the 90.5 days (within the call's second).
    expect(st.refundableNow).to.be.closeTo(exactUnserved(3n * PRICE, t, expiry, t + MONTH + DAY), 2n * RATE);
    expect(st.cancellationFeeNow).to.equal(0n);
    await networkHelpers.time.increaseTo(expiry - MONTH - DAY - 3600n);
    expect((await fx.escrow.status(fx.node1, fx.clientA)).monthsLeft).to.equal(2n); // 31 days and an hour
    await networkHelpers.time.increaseTo(expiry - MONTH - DAY);
    expect((await fx.escrow.status(fx.node1, fx.clientA)).monthsLeft).to.equal(1n); // 31 days
    await networkHelpers.time.increaseTo(expiry - 3600n);
    st = await fx.escrow.status(fx.node1, fx.clientA);
    expect(st.active).to.equal(true);
    expect(st.monthsLeft).to.equal(1n);
    await networkHelpers.time.increaseTo(expiry);
    st = await fx.escrow.status(fx.node1, fx.clientA);
    expect(st.active).to.equal(false);
    expect(st.owner).to.equal(fx.alice.address);
    expect(st.expiresAt).to.equal(expiry);
    expect(st.monthsLeft).to.equal(0n);
    expect(st.refundableNow).to.equal(0n);
  });

  it("status: refundableNow and cancellationFeeNow match what cancel pays", async function () {
    const fx = await load(sntFixture);
    await (await as(fx.escrow, fx.provider1).setCancellationFee(1000n)).wait();
    const t = await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE);
    const expiry = expiryOf(t, 2n);
    await networkHelpers.time.increaseTo(t + 10n * DAY);
    const st = await fx.escrow.status(fx.node1, fx.clientA);
    const unserved = exactUnserved(2n * PRICE, t, expiry, t + 10n * DAY);
    expect(st.refundableNow + st.cancellationFeeNow).to.be.closeTo(unserved, 2n * RATE);
    expect(st.cancellationFeeNow).to.be.closeTo(unserved / 10n, RATE);
    const tx = await as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA);
    const tc = await txTime(fx, tx);
    const left = unservedAt(2n * PRICE, t, expiry, tc);
    // Rounded down, by at most a wei from the exact pro-rata part.
    expect(left).to.be.lte(exactUnserved(2n * PRICE, t, expiry, tc));
    expect(left).to.be.gte(exactUnserved(2n * PRICE, t, expiry, tc) - 1n);
    const fee = left / 10n;
    await expect(tx)
      .to.emit(fx.escrow, "Cancelled")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, left - fee, fee);
  });

  it("expiries: batched, 0 for none", async function () {
    const fx = await load(sntFixture);
    const ta = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    const tb = await buy(fx, fx.bob, fx.node2, fx.clientB, 2n, PRICE2);
    const res = await fx.escrow.expiries(
      [fx.node1, fx.node1, fx.node2, fx.node2],
      [fx.clientA, fx.clientB, fx.clientB, fx.clientA]
    );
    expect(res.map((x: bigint) => x)).to.deep.equal([expiryOf(ta, 1n), 0n, expiryOf(tb, 2n), 0n]);
    await expect(fx.escrow.expiries([fx.node1], []))
      .to.be.revertedWithCustomError(fx.escrow, "LengthMismatch")
      .withArgs(1n, 0n);
    expect(await fx.escrow.expiries([], [])).to.deep.equal([]);
  });

  it("soldNodes and providerEarnings sum a provider's nodes", async function () {
    const fx = await load(sntFixture);
    // Bought at a midnight: released at exactly RATE per second.
    const t = await midnightAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t);
    await buy(fx, fx.bob, fx.node2, fx.clientB, 1n, PRICE2);
    await buy(fx, fx.carol, fx.free, fx.clientC, 1n, 0n);
    const sold1: string[] = await fx.escrow.soldNodes(fx.provider1.address);
    expect(sold1).to.include(fx.node1);
    expect(sold1).to.not.include(fx.node2);
    expect(await fx.escrow.soldNodes(fx.provider2.address)).to.deep.equal([fx.node2]);
    expect(await fx.escrow.soldNodes(fx.stranger.address)).to.deep.equal([]);
    await networkHelpers.time.increaseTo(t + 10n * DAY);
    for (const p of [fx.provider1, fx.provider2]) {
      const nodes: string[] = await fx.escrow.soldNodes(p.address);
      const sum = [0n, 0n, 0n, 0n];
      for (const n of nodes) {
        const e = await fx.escrow.nodeEarnings(n);
        sum[0] += e.unreleased;
        sum[1] += e.earned;
        sum[2] += e.withdrawn;
        sum[3] += e.withdrawable;
      }
      const pe = await fx.escrow.providerEarnings(p.address);
      expect([pe.unreleased, pe.earned, pe.withdrawn, pe.withdrawable]).to.deep.equal(sum);
    }
    const pe1 = await fx.escrow.providerEarnings(fx.provider1.address);
    expect(pe1.earned).to.be.closeTo(RATE * 10n * DAY, 2n * RATE);
  });
});

describe("SubscriptionEscrow: reentrancy", function () {
  it("a token re-entering subscribe during transferFrom is stopped", async function () {
    const fx = await load(reentrantFixture);
    const consent = await consentFor(fx.escrow, fx.node1, fx.clientB, fx.alice.address);
    const inner = fx.escrow.interface.encodeFunctionData("subscribe", [fx.node1, fx.clientB, 1n, PRICE, ANY_FEE, consent]);
    await (await fx.token.arm(fx.escrowAddress, inner)).wait();
    await setAllowance(fx, fx.alice, PRICE);
    await expect(as(fx.escrow, fx.alice).subscribe(fx.node1, fx.clientA, 1n, PRICE)).to.be.revertedWithCustomError(
      fx.escrow,
      "ReentrancyGuardReentrantCall"
    );
  });

  it("a token re-entering cancel during the refund transfer is stopped", async function () {
    const fx = await load(reentrantFixture);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 2n, PRICE);
    const inner = fx.escrow.interface.encodeFunctionData("cancel", [fx.node1, fx.clientA, await recordOf(fx.escrow, fx.node1, fx.clientA)]);
    await (await fx.token.arm(fx.escrowAddress, inner)).wait();
    await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA)).to.be.revertedWithCustomError(
      fx.escrow,
      "ReentrancyGuardReentrantCall"
    );
    expect((await fx.escrow.status(fx.node1, fx.clientA)).active).to.equal(true);
  });

  it("a token re-entering withdraw during the payout is stopped", async function () {
    const fx = await load(reentrantFixture);
    const t = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    await networkHelpers.time.increaseTo(t + 10n * DAY);
    const inner = fx.escrow.interface.encodeFunctionData("withdraw", [fx.node1]);
    await (await fx.token.arm(fx.escrowAddress, inner)).wait();
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1)).to.be.revertedWithCustomError(
      fx.escrow,
      "ReentrancyGuardReentrantCall"
    );
    // The revert kept the token armed: disarm it, and the withdrawal goes through.
    await (await fx.token.arm(ethers.ZeroAddress, "0x")).wait();
    await expect(as(fx.escrow, fx.provider1).withdraw(fx.node1)).to.emit(fx.escrow, "Withdrawn");
  });
});

describe("SubscriptionEscrow: the subscription record (calldata checked against the commitment)", function () {
  /** Send at exactly `t`. */
  async function at<T>(t: bigint, send: () => Promise<T>): Promise<T> {
    await networkHelpers.time.setNextBlockTimestamp(t);
    return send();
  }

  /**
   * alice's clientA on node1: bought (r0), extended (r1), opted in to a 1-month renewal (r2, the
   * current record); now in the renewal window with the allowance for a renewal or an extension,
   * so that every management call would go through with r2.
   */
  async function managed(fx: Fx) {
    const t0 = await middayAhead(fx);
    await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE, t0);
    const r0 = await recordOf(fx.escrow, fx.node1, fx.clientA);
    await setAllowance(fx, fx.alice, PRICE);
    await (await at(t0 + DAY, () => as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, 1n, PRICE))).wait();
    const r1 = await recordOf(fx.escrow, fx.node1, fx.clientA);
    await (await as(fx.escrow, fx.alice).setAutoRenew(fx.node1, fx.clientA, 1n, PRICE)).wait();
    const r2 = await recordOf(fx.escrow, fx.node1, fx.clientA);
    await networkHelpers.time.increaseTo(r2.expiresAt - DAY);
    await setAllowance(fx, fx.alice, PRICE);
    return { r0, r1, r2 };
  }

  type Call = (fx: Fx, client: string, r: SubRecord, caller?: "alice" | "bob") => Promise<unknown>;
  const signer = (fx: Fx, caller: "alice" | "bob" = "alice") => fx[caller];
  /** Every call that takes a record, with the record given explicitly (full argument lists). */
  const calls: [string, Call][] = [
    ["extend", (fx, c, r, who) => as(fx.escrow, signer(fx, who)).extend(fx.node1, c, r, 1n, PRICE)],
    ["cancel", (fx, c, r, who) => as(fx.escrow, signer(fx, who)).cancel(fx.node1, c, r)],
    ["setAutoRenew", (fx, c, r, who) => as(fx.escrow, signer(fx, who)).setAutoRenew(fx.node1, c, r, 2n, PRICE)],
    [
      "setClientId",
      async (fx, c, r, who) =>
        as(fx.escrow, signer(fx, who)).setClientId(
          fx.node1,
          c,
          r,
          fx.clientC,
          await consentFor(fx.escrow, fx.node1, fx.clientC, signer(fx, who).address)
        ),
    ],
    ["renew", (fx, c, r) => as(fx.escrow, fx.stranger).renew(fx.node1, c, r)],
    ["status", (fx, c, r) => fx.escrow.status(fx.node1, c, r)],
    ["renewalCheck", (fx, c, r) => fx.escrow.renewalCheck(fx.node1, c, r)],
  ];
  const KEYS = (fx: Fx): [string, string][] => [
    [fx.node1, fx.clientA],
    [fx.node1, fx.clientB],
    [fx.node1, fx.clientC],
  ];

  it("every call refuses a stale or forged record (SubscriptionRecordMismatch) and changes nothing", async function () {
    const fx = await load(sntFixture);
    const { r0, r1, r2 } = await managed(fx);
    const bad: [string, SubRecord][] = [
      ["the purchase's record (stale)", r0],
      ["the record before the opt-in (stale)", r1],
      ...forgeries(r2, fx.stranger.address),
    ];
    const before = await snapshotState(fx, KEYS(fx));
    for (const [name, call] of calls) {
      for (const [what, r] of bad) {
        await expect(call(fx, fx.clientA, r), `${name} with ${what}`)
          .to.be.revertedWithCustomError(fx.escrow, "SubscriptionRecordMismatch")
          .withArgs(fx.node1, fx.clientA);
        expect(await fx.escrow.isCurrent(fx.node1, fx.clientA, r)).to.equal(false);
      }
    }
    expect(await snapshotState(fx, KEYS(fx))).to.deep.equal(before);
    expect(await fx.escrow.subscriptionCommitment(fx.node1, fx.clientA)).to.equal(commitmentOf(r2));
    // With the true record each of them goes through: the record was the only thing wrong.
    expect((await fx.escrow.status(fx.node1, fx.clientA, r2)).active).to.equal(true);
    expect(await fx.escrow.renewalCheck(fx.node1, fx.clientA, r2)).to.equal(BigInt(Blocker.None));
    for (const [name, call] of calls.slice(0, 5)) {
      const snap = await networkHelpers.takeSnapshot();
      await expect(call(fx, fx.clientA, r2), name).to.not.revert(ethers);
      await snap.restore();
    }
  });

  it("nothing stored: NoSubscription whatever the record; renew and the views report it", async function () {
    const fx = await load(sntFixture);
    const { r2 } = await managed(fx);
    const before = await snapshotState(fx, KEYS(fx));
    // clientB was never bought: neither the empty record nor a real one of another key helps.
    for (const r of [EMPTY_SUBSCRIPTION, r2]) {
      for (const [name, call] of calls.slice(0, 4)) {
        await expect(call(fx, fx.clientB, r), name)
          .to.be.revertedWithCustomError(fx.escrow, "NoSubscription")
          .withArgs(fx.node1, fx.clientB);
      }
      await expect(as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientB, r))
        .to.be.revertedWithCustomError(fx.escrow, "RenewalNotPossible")
        .withArgs(fx.node1, fx.clientB, BigInt(Blocker.NoSubscription));
      const st = await fx.escrow.status(fx.node1, fx.clientB, r);
      expect([st.active, st.owner, st.expiresAt, st.monthsLeft, st.refundableNow, st.cancellationFeeNow]).to.deep.equal([
        false,
        ethers.ZeroAddress,
        0n,
        0n,
        0n,
        0n,
      ]);
      expect(await fx.escrow.renewalCheck(fx.node1, fx.clientB, r)).to.equal(BigInt(Blocker.NoSubscription));
      expect(await fx.escrow.isCurrent(fx.node1, fx.clientB, r)).to.equal(false);
    }
    expect(await snapshotState(fx, KEYS(fx))).to.deep.equal(before);
    // Moved away or cancelled, the last record of a key is nothing stored either.
    await (await as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, r2, fx.clientC, await consentFor(fx.escrow, fx.node1, fx.clientC, fx.alice.address))).wait();
    await expect(as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientA, r2))
      .to.be.revertedWithCustomError(fx.escrow, "NoSubscription")
      .withArgs(fx.node1, fx.clientA);
    await (await as(fx.escrow, fx.alice).cancel(fx.node1, fx.clientC, r2)).wait();
    for (const [name, call] of calls.slice(0, 4)) {
      await expect(call(fx, fx.clientC, r2), name)
        .to.be.revertedWithCustomError(fx.escrow, "NoSubscription")
        .withArgs(fx.node1, fx.clientC);
    }
    expect(await fx.escrow.renewalCheck(fx.node1, fx.clientC, r2)).to.equal(BigInt(Blocker.NoSubscription));
    expect((await fx.escrow.status(fx.node1, fx.clientC, r2)).owner).to.equal(ethers.ZeroAddress);
  });

  it("a stranger passing the true record: NotSubscriptionOwner, nothing changes; anyone may renew with it", async function () {
    const fx = await load(sntFixture);
    const { r2 } = await managed(fx);
    await setAllowance(fx, fx.bob, PRICE);
    const before = await snapshotState(fx, KEYS(fx));
    for (const [name, call] of calls.slice(0, 4)) {
      await expect(call(fx, fx.clientA, r2, "bob"), name)
        .to.be.revertedWithCustomError(fx.escrow, "NotSubscriptionOwner")
        .withArgs(fx.node1, fx.clientA, fx.bob.address, fx.alice.address);
    }
    expect(await snapshotState(fx, KEYS(fx))).to.deep.equal(before);
    // The views answer anyone.
    expect((await as(fx.escrow, fx.bob).status(fx.node1, fx.clientA, r2)).owner).to.equal(fx.alice.address);
    // Renewal: the stranger sends it, alice pays (from her allowance), the stranger pays nothing.
    const tx = await as(fx.escrow, fx.stranger).renew(fx.node1, fx.clientA, r2);
    const renewed = await eventRecord(fx.escrow, tx, "Extended");
    await expect(tx)
      .to.emit(fx.escrow, "Extended")
      .withArgs(fx.node1, fx.clientA, fx.alice.address, 1n, PRICE, PRICE, rec(renewed));
    await expect(tx).to.changeTokenBalances(ethers, fx.token, [fx.alice, fx.stranger, fx.bob], [-PRICE, 0n, 0n]);
    expect(renewed.owner).to.equal(fx.alice.address);
    expect(renewed.expiresAt).to.equal(r2.expiresAt + MONTH);
    expect(await recordOf(fx.escrow, fx.node1, fx.clientA)).to.deep.equal(renewed);
  });

  /**
   * Sends `name(args)` at a fixed time after simulating it at that time: returns what the call
   * returned, asserted equal to the record its event carries and current on the escrow.
   */
  async function returnedAndEmitted(
    fx: Fx,
    contract: Contract,
    name: string,
    args: unknown[],
    event: "Subscribed" | "Extended" | "AutoRenewSet",
    clientId: string
  ): Promise<SubRecord> {
    const t = (await now(fx)) + 60n;
    await networkHelpers.time.setNextBlockTimestamp(t);
    const returned = toStoredSubscription(await contract[name].staticCall(...args, { blockTag: "pending" }));
    const tx = await contract[name](...args);
    expect(await txTime(fx, tx)).to.equal(t);
    expect(returned, `${name} returns what ${event} carries`).to.deep.equal(await eventRecord(fx.escrow, tx, event));
    expect(await fx.escrow.isCurrent(fx.node1, clientId, returned)).to.equal(true);
    expect(await fx.escrow.subscriptionCommitment(fx.node1, clientId)).to.equal(commitmentOf(returned));
    return returned;
  }

  it("subscribe, extend, setAutoRenew and renew return the record their event carries, and it is current", async function () {
    const fx = await load(sntFixture);
    await (await as(fx.escrow, fx.provider1).setCancellationFee(300n)).wait();
    const alice = as(fx.escrow, fx.alice);
    await setAllowance(fx, fx.alice, 2n * PRICE);
    const bought = await returnedAndEmitted(fx, alice, "subscribe", [fx.node1, fx.clientA, 2n, PRICE], "Subscribed", fx.clientA);
    expect(bought.owner).to.equal(fx.alice.address);
    expect(bought.expiresAt).to.equal(expiryOf(bought.start, 2n));
    expect(bought.paid).to.equal(2n * PRICE);
    expect(bought.cancellationFeeBps).to.equal(300n);
    expect([bought.renewMonths, bought.renewMaxPricePerMonth]).to.deep.equal([0n, 0n]);

    await setAllowance(fx, fx.alice, PRICE);
    const extended = await returnedAndEmitted(fx, alice, "extend", [fx.node1, fx.clientA, bought, 1n, PRICE], "Extended", fx.clientA);
    expect(extended).to.deep.equal({
      ...bought,
      start: extended.start,
      expiresAt: bought.expiresAt + MONTH,
      paid: unservedAt(bought.paid, bought.start, bought.expiresAt, extended.start) + PRICE,
    });
    expect(await fx.escrow.isCurrent(fx.node1, fx.clientA, bought)).to.equal(false);

    const optedIn = await returnedAndEmitted(fx, alice, "setAutoRenew", [fx.node1, fx.clientA, extended, 3n, 2n * PRICE], "AutoRenewSet", fx.clientA);
    // Only the renewal settings change (the segment is untouched).
    expect(optedIn).to.deep.equal({ ...extended, renewMonths: 3n, renewMaxPricePerMonth: 2n * PRICE });

    await networkHelpers.time.increaseTo(optedIn.expiresAt - DAY);
    await setAllowance(fx, fx.alice, 3n * PRICE);
    const renewed = await returnedAndEmitted(fx, as(fx.escrow, fx.stranger), "renew", [fx.node1, fx.clientA, optedIn], "Extended", fx.clientA);
    expect(renewed).to.deep.equal({
      ...optedIn,
      start: renewed.start,
      expiresAt: optedIn.expiresAt + 3n * MONTH,
      paid: unservedAt(optedIn.paid, optedIn.start, optedIn.expiresAt, renewed.start) + 3n * PRICE,
    });

    // Opting out clears the maximum as well.
    const optedOut = await returnedAndEmitted(fx, alice, "setAutoRenew", [fx.node1, fx.clientA, renewed, 0n, 5n * PRICE], "AutoRenewSet", fx.clientA);
    expect(optedOut).to.deep.equal({ ...renewed, renewMonths: 0n, renewMaxPricePerMonth: 0n });
  });

  it("expiries reads the expiry from the commitment; setClientId moves the commitment unchanged", async function () {
    const fx = await load(sntFixture);
    const low40 = (c: bigint) => c & ((1n << 40n) - 1n);
    const expiryOfKey = async (c: string) => (await fx.escrow.expiries([fx.node1], [c]))[0] as bigint;
    const t0 = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
    let r = await recordOf(fx.escrow, fx.node1, fx.clientA);
    let stored: bigint = await fx.escrow.subscriptionCommitment(fx.node1, fx.clientA);
    expect(stored).to.equal(commitmentOf(r));
    expect(low40(stored)).to.equal(expiryOf(t0, 1n));
    expect(await expiryOfKey(fx.clientA)).to.equal(r.expiresAt);
    await setAllowance(fx, fx.alice, 2n * PRICE);
    await (await as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, r, 2n, PRICE)).wait();
    r = await recordOf(fx.escrow, fx.node1, fx.clientA);
    stored = await fx.escrow.subscriptionCommitment(fx.node1, fx.clientA);
    expect(low40(stored)).to.equal(expiryOf(t0, 1n) + 2n * MONTH);
    expect(await expiryOfKey(fx.clientA)).to.equal(r.expiresAt);

    // The move: the same commitment under the new key, nothing under the old one.
    const moved = await as(fx.escrow, fx.alice).setClientId(fx.node1, fx.clientA, r, fx.clientB, await consentFor(fx.escrow, fx.node1, fx.clientB, fx.alice.address));
    await expect(moved).to.emit(fx.escrow, "ClientIdChanged").withArgs(fx.node1, fx.clientA, fx.clientB, rec(r));
    expect(await eventRecord(fx.escrow, moved, "ClientIdChanged")).to.deep.equal(r);
    expect(await fx.escrow.subscriptionCommitment(fx.node1, fx.clientB)).to.equal(stored);
    expect(await fx.escrow.subscriptionCommitment(fx.node1, fx.clientA)).to.equal(0n);
    expect(await fx.escrow.expiries([fx.node1, fx.node1], [fx.clientA, fx.clientB])).to.deep.equal([0n, r.expiresAt]);
    expect(await fx.escrow.isCurrent(fx.node1, fx.clientB, r)).to.equal(true);

    // Lapsed, the expiry is still there (in the past); cancelled, it is gone.
    await networkHelpers.time.increaseTo(r.expiresAt + DAY);
    expect(await expiryOfKey(fx.clientB)).to.equal(r.expiresAt);
    expect((await fx.escrow.status(fx.node1, fx.clientB, r)).active).to.equal(false);
    await buy(fx, fx.bob, fx.node1, fx.clientC, 1n, PRICE);
    await (await as(fx.escrow, fx.bob).cancel(fx.node1, fx.clientC)).wait();
    expect(await expiryOfKey(fx.clientC)).to.equal(0n);
    expect(await fx.escrow.subscriptionCommitment(fx.node1, fx.clientC)).to.equal(0n);
  });
});

for (const [tokenName, fixture, forwardsReverts] of [
  ["SNT-like token", sntFixture, true],
  ["real MiniMe", miniMeFixture, false],
] as const) {
  describe(`SubscriptionEscrow: approveAndCall extension (ExtensionRequest, ${tokenName})`, function () {
    /**
     * `data` is refused with `error`: the escrow's side of approveAndCall, simulated as the token
     * makes it, names the error; the real transaction reverts (with it, where the token forwards
     * the revert data; old MiniMe drops it).
     */
    async function expectRefused(fx: Fx, amount: bigint, data: string, error: string, args?: unknown[]) {
      const simulated = ethers.provider.call({
        from: fx.tokenAddress,
        to: fx.escrowAddress,
        data: fx.escrow.interface.encodeFunctionData("receiveApproval", [fx.alice.address, amount, fx.tokenAddress, data]),
      });
      const s = expect(simulated).to.be.revertedWithCustomError(fx.escrow, error);
      await (args ? s.withArgs(...args) : s);
      const sent = as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, amount, data);
      if (!forwardsReverts) {
        await expect(sent).to.revert(ethers);
        return;
      }
      const r = expect(sent).to.be.revertedWithCustomError(fx.escrow, error);
      await (args ? r.withArgs(...args) : r);
    }

    it("extends with the current record in one transaction, leaving no allowance", async function () {
      const fx = await load(fixture);
      const t = await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
      const record = await recordOf(fx.escrow, fx.node1, fx.clientA);
      const data = extensionData(ethers, fx.node1, fx.clientA, 2n, PRICE, record);
      expect(ethers.dataLength(data)).to.equal(12 * 32);
      const tx = await as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, 2n * PRICE, data);
      const te = await txTime(fx, tx);
      const extended = {
        ...record,
        start: te,
        expiresAt: expiryOf(t, 1n) + 2n * MONTH,
        paid: unservedAt(PRICE, t, expiryOf(t, 1n), te) + 2n * PRICE,
      };
      await expect(tx)
        .to.emit(fx.escrow, "Extended")
        .withArgs(fx.node1, fx.clientA, fx.alice.address, 2n, PRICE, 2n * PRICE, rec(extended));
      expect(await recordOf(fx.escrow, fx.node1, fx.clientA)).to.deep.equal(extended);
      expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
      expect(await fx.token.balanceOf(fx.escrowAddress)).to.equal(3n * PRICE);
      // The record it replaced is stale now: extending with it again is refused.
      await expectRefused(fx, PRICE, extensionData(ethers, fx.node1, fx.clientA, 1n, PRICE, record), "SubscriptionRecordMismatch", [
        fx.node1,
        fx.clientA,
      ]);
    });

    it("refuses a stale or forged record, a short encoding and an unknown first word; nothing changes", async function () {
      const fx = await load(fixture);
      await buy(fx, fx.alice, fx.node1, fx.clientA, 1n, PRICE);
      const stale = await recordOf(fx.escrow, fx.node1, fx.clientA);
      await setAllowance(fx, fx.alice, PRICE);
      await (await as(fx.escrow, fx.alice).extend(fx.node1, fx.clientA, stale, 1n, PRICE)).wait();
      const current = await recordOf(fx.escrow, fx.node1, fx.clientA);
      await setAllowance(fx, fx.alice, 0n);
      const ext = (r: SubRecord, months = 1n, action: number = Action.Extend, client = fx.clientA) =>
        extensionData(ethers, fx.node1, client, months, PRICE, r, action);
      const coder = ethers.AbiCoder.defaultAbiCoder();
      const good = ext(current);
      const before = await snapshotState(fx, [
        [fx.node1, fx.clientA],
        [fx.node1, fx.clientB],
      ]);
      interface Case {
        what: string;
        data: string;
        error: string;
        args?: unknown[];
        amount?: bigint;
      }
      const mismatch = { error: "SubscriptionRecordMismatch", args: [fx.node1, fx.clientA] };
      const invalid = { error: "InvalidApprovalData" };
      const cases: Case[] = [
        { what: "the record before the last extension", data: ext(stale), ...mismatch },
        ...forgeries(current, fx.stranger.address).map(([what, r]) => ({ what: `a forged record (${what})`, data: ext(r), ...mismatch })),
        { what: "a key with nothing stored", data: ext(current, 1n, Action.Extend, fx.clientB), error: "NoSubscription", args: [fx.node1, fx.clientB] },
        { what: "an amount that is not the price", amount: PRICE + 1n, data: good, error: "ApprovedAmountMismatch", args: [PRICE + 1n, PRICE] },
        { what: "the encoding one word short", data: ethers.dataSlice(good, 0, 11 * 32), ...invalid },
        { what: "the action word alone", data: ethers.dataSlice(good, 0, 32), ...invalid },
        { what: "31 bytes", data: ethers.dataSlice(good, 0, 31), ...invalid },
        { what: "no data", data: "0x", ...invalid },
        { what: "first word 0 (action Subscribe in an ExtensionRequest)", data: ext(current, 1n, Action.Subscribe), ...invalid },
        { what: "first word 2 (no such action)", data: ext(current, 1n, 2), ...invalid },
        { what: "first word 0x40", data: ethers.concat([coder.encode(["uint256"], [0x40n]), ethers.dataSlice(good, 32)]), ...invalid },
        // The old layout (an ApprovalRequest asking to extend) is no longer an extension.
        { what: "an ApprovalRequest with action Extend", data: approvalData(ethers, Action.Extend, fx.node1, fx.clientA, 1n, PRICE), ...invalid },
      ];
      for (const c of cases) {
        try {
          await expectRefused(fx, c.amount ?? PRICE, c.data, c.error, c.args);
        } catch (e) {
          (e as Error).message = `${c.what}: ${(e as Error).message}`;
          throw e;
        }
      }
      // Out-of-range values in the address and uint40 words (client id, owner, start): abi.decode
      // refuses them (today without a reason, not InvalidApprovalData).
      for (const word of [2, 5, 6]) {
        const dirty = ethers.getBytes(good);
        dirty[word * 32] = 0xff;
        await expect(as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, PRICE, ethers.hexlify(dirty)), `word ${word}`).to.revert(ethers);
      }
      expect(await snapshotState(fx, [
        [fx.node1, fx.clientA],
        [fx.node1, fx.clientB],
      ])).to.deep.equal(before);
      expect(await fx.token.allowance(fx.alice.address, fx.escrowAddress)).to.equal(0n);
      // The same request with the current record goes through.
      await expect(as(fx.token, fx.alice).approveAndCall(fx.escrowAddress, PRICE, good)).to.emit(fx.escrow, "Extended");
    });
  });
}
