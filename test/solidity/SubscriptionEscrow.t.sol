// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EscrowSetup} from "./utils/EscrowSetup.sol";
import {ISubscriptionEscrow} from "../../contracts/interfaces/ISubscriptionEscrow.sol";
import {IMailServerRegistry} from "../../contracts/interfaces/IMailServerRegistry.sol";

/// @dev Fuzz tests of the escrow's money: refunds, release, extensions and removals.
///
/// Expiries fall on UTC midnights: a purchase of `months` at `t` ends at the next midnight at or
/// after `t + months * MONTH` (an extension of a running subscription adds whole months to its
/// midnight expiry), and what was paid is spread linearly over [start, expiry]. Rounding favours
/// solvency: one subscription's unserved part is rounded down, a node's unreleased sum up.
contract SubscriptionEscrowTest is EscrowSetup {
    uint256 internal constant START = 1_700_000_000;
    address internal constant PROVIDER = address(0xB0B);
    address internal constant PAYOUT = address(0xBEEF);
    address internal constant USER = address(0xA11CE);
    address internal constant USER2 = address(0xCA401);
    address internal constant USER3 = address(0xDA7E);
    address internal immutable CLIENT = _clientOf(0xC1);
    address internal immutable CLIENT2 = _clientOf(0xC2);
    address internal immutable CLIENT3 = _clientOf(0xC3);
    uint256 internal constant MAX_PRICE = type(uint96).max / 24;

    bytes32 internal node;

    function setUp() public {
        vm.warp(START);
        _deploy();
        _addProvider(PROVIDER, PAYOUT);
        node = _addNode(PROVIDER, 1, 1e18);
    }

    function _setPrice(uint256 price) internal {
        vm.prank(PROVIDER);
        registry.setNodePrice(node, uint96(price));
    }

    function _setFee(uint256 feeBps) internal {
        vm.prank(PROVIDER);
        escrow.setCancellationFee(feeBps);
    }

    /// @dev `served` (paid minus what one subscription gives back) is the exact pro-rata part
    /// `paid * elapsed / duration`, rounded up by less than 1 + (duration - elapsed) / 2^32 wei
    /// (the flooring of the rate and of the unserved part): never below it, so a refund never
    /// exceeds the exact unserved part. Checked without division.
    function _assertServedIsProRata(uint256 served, uint256 paid, uint256 elapsed, uint256 duration) internal pure {
        require(elapsed <= duration && duration < PRECISION, "bad segment");
        assertLe(paid * elapsed, served * duration, "served >= pro rata (refund <= exact unserved)");
        assertLe(
            served * duration * PRECISION,
            paid * elapsed * PRECISION + duration * PRECISION + (duration - elapsed) * duration,
            "served < pro rata + 1 + left / 2^32"
        );
    }

    function _expectNotActive(address owner, address clientId, uint256 expiresAt) internal {
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptionEscrow.SubscriptionNotActive.selector, node, clientId, expiresAt)
        );
        vm.prank(owner);
        escrow.cancel(node, clientId, _rec(node, clientId));
    }

    // ------------------------------------------------------------------------------------------
    // Refund math
    // ------------------------------------------------------------------------------------------

    /// refund + fee + served == paid; served is pro rata; the fee is the locked rate of the
    /// unserved part; status predicted it; the provider can take the rest, leaving nothing.
    function testFuzz_cancelSplitsPaymentExactly(
        uint256 price,
        uint256 months,
        uint256 elapsed,
        uint256 feeBps,
        uint256 startOffset
    ) public {
        price = bound(price, 0, MAX_PRICE);
        months = bound(months, 1, 24);
        feeBps = bound(feeBps, 0, 1000);
        // Any time of day, an exact midnight included (START is 80,000 s into its day).
        uint256 start = START + bound(startOffset, 0, 2 days);
        vm.warp(start);
        uint256 expiry = _endOfDay(start + months * MONTH);
        uint256 duration = expiry - start;
        elapsed = bound(elapsed, 0, duration - 1);
        _setPrice(price);
        _setFee(feeBps);
        assertEq(escrow.quote(node, months).expiresAt, expiry, "quote rounds the expiry up to midnight");
        uint256 paid = _buy(USER, node, CLIENT, months);
        assertEq(paid, price * months, "paid");
        _assertKept(node, CLIENT, "after the purchase");
        assertEq(_rec(node, CLIENT).expiresAt, expiry, "expiry rounded up to midnight");
        assertEq(_rec(node, CLIENT).cancellationFeeBps, feeBps, "fee locked");
        _setFee(feeBps == 0 ? 1000 : 0); // later changes do not apply

        vm.warp(start + elapsed);
        ISubscriptionEscrow.SubscriptionStatus memory st = _status(node, CLIENT);
        uint256 refund = _cancel(node, CLIENT);
        _assertKept(node, CLIENT, "cancel deletes the record");
        assertEq(refund, st.refundableNow, "status predicted the refund");
        uint256 fee = st.cancellationFeeNow;
        assertLe(refund + fee, paid, "refund + fee <= paid");
        uint256 served = paid - refund - fee;
        _assertServedIsProRata(served, paid, elapsed, duration);
        assertEq(fee, ((refund + fee) * feeBps) / 10_000, "fee = locked bps of the unserved part");

        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(e.earned, served + fee, "provider earns served + fee");
        assertEq(e.unreleased, 0, "nothing unreleased");
        assertEq(token.balanceOf(address(escrow)), e.earned, "escrow holds the earnings");
        if (e.earned != 0) {
            vm.prank(PROVIDER);
            escrow.withdraw(node);
        }
        assertEq(token.balanceOf(PAYOUT), served + fee, "payout");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    /// What cancelling would pay back never grows as time passes, and is 0 once expired.
    function testFuzz_refundNeverIncreases(uint256 price, uint256 months, uint256 t1, uint256 t2, uint256 feeBps)
        public
    {
        price = bound(price, 0, MAX_PRICE);
        months = bound(months, 1, 24);
        feeBps = bound(feeBps, 0, 1000);
        // The buyer gets the rest of the day the paid time ends in.
        uint256 duration = _endOfDay(START + months * MONTH) - START;
        t1 = bound(t1, 0, duration + 10 days);
        t2 = bound(t2, t1, duration + 20 days);
        _setPrice(price);
        _setFee(feeBps);
        uint256 paid = _buy(USER, node, CLIENT, months);
        assertEq(_rec(node, CLIENT).expiresAt, START + duration, "expiry");

        vm.warp(START + t1);
        ISubscriptionEscrow.SubscriptionStatus memory a = _status(node, CLIENT);
        vm.warp(START + t2);
        ISubscriptionEscrow.SubscriptionStatus memory b = _status(node, CLIENT);
        assertLe(b.refundableNow, a.refundableNow, "refund decreased or stayed");
        assertLe(b.refundableNow + b.cancellationFeeNow, a.refundableNow + a.cancellationFeeNow, "unserved decreased");
        assertLe(a.refundableNow + a.cancellationFeeNow, paid, "unserved <= paid");
        if (t1 < duration) {
            // Exactly the unserved part at t1, rounded down (by less than 1 + left / 2^32).
            _assertServedIsProRata(paid - a.refundableNow - a.cancellationFeeNow, paid, t1, duration);
        }
        if (t2 >= duration) {
            assertEq(b.refundableNow, 0, "nothing after expiry");
            assertEq(b.active, false, "inactive after expiry");
            assertEq(b.monthsLeft, 0, "no months left");
        } else {
            assertEq(b.active, true, "active before expiry");
            assertEq(b.monthsLeft, _monthsLeft(duration - t2), "months left rounded up");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Release
    // ------------------------------------------------------------------------------------------

    /// Earned never decreases, never exceeds what was paid, is the pro-rata amount to the second
    /// (within 1 wei), and is everything from the expiry on.
    function testFuzz_releaseBoundedAndMonotonic(uint256 price, uint256 months, uint256 t1, uint256 t2) public {
        price = bound(price, 0, MAX_PRICE);
        months = bound(months, 1, 24);
        uint256 duration = _endOfDay(START + months * MONTH) - START;
        t1 = bound(t1, 0, duration + 2 days);
        t2 = bound(t2, t1, duration + 2 days);
        _setPrice(price);
        uint256 paid = _buy(USER, node, CLIENT, months);

        vm.warp(START + t1);
        ISubscriptionEscrow.NodeEarnings memory a = escrow.nodeEarnings(node);
        vm.warp(START + t2);
        ISubscriptionEscrow.NodeEarnings memory b = escrow.nodeEarnings(node);
        assertLe(a.earned, b.earned, "earned never decreases");
        assertLe(b.earned, paid, "earned <= paid");
        assertEq(b.earned + b.unreleased, paid, "earned + unreleased == paid");
        assertEq(token.balanceOf(address(escrow)), b.unreleased + b.withdrawable, "balance == books");
        uint256 elapsed = t2 > duration ? duration : t2;
        // |earned - paid * elapsed / duration| < 1: no lag, only rounding (the node's unreleased
        // part is rounded up).
        assertLe(paid * elapsed, (b.earned + 1) * duration, "earned > pro rata - 1");
        assertLe(b.earned * duration, paid * elapsed + duration, "earned < pro rata + 1");
        if (t2 >= duration) {
            assertEq(b.earned, paid, "all from the expiry on");
        } else {
            // What the node holds is the segment's remainder rounded up (what one subscription
            // gets back is rounded down), so it always covers the refund.
            uint256 rate = (paid * PRECISION) / duration;
            uint256 left = rate * (duration - t2);
            assertEq(b.unreleased, (left + PRECISION - 1) / PRECISION, "unreleased = ceil(rate * left / 2^32)");
            ISubscriptionEscrow.SubscriptionStatus memory st = _status(node, CLIENT);
            assertEq(st.refundableNow, left / PRECISION, "refundable = floor(rate * left / 2^32)");
        }
    }

    /// Many subscribers: the node's books always equal the escrow balance and the sum of what
    /// each could get back fits in what is held.
    function testFuzz_booksBalanceWithSeveralSubscribers(uint256 seed, uint256 warpBy) public {
        address[3] memory users = [USER, USER2, USER3];
        address[3] memory clients = [CLIENT, CLIENT2, CLIENT3];
        uint256 total;
        for (uint256 i = 0; i < 3; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            _setPrice(bound(r, 0, 1e24));
            total += _buy(users[i], node, clients[i], bound(r >> 128, 1, 24));
            vm.warp(block.timestamp + bound(r >> 64, 0, 40 days));
        }
        vm.warp(block.timestamp + bound(warpBy, 0, 800 days));
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(e.earned + e.unreleased, total, "earned + unreleased == paid");
        assertEq(token.balanceOf(address(escrow)), e.unreleased + e.withdrawable, "balance == books");
        uint256 owed;
        for (uint256 i = 0; i < 3; ++i) {
            ISubscriptionEscrow.SubscriptionStatus memory st = _status(node, clients[i]);
            owed += st.refundableNow + st.cancellationFeeNow;
        }
        assertLe(owed, e.unreleased, "refunds are covered");
    }

    // ------------------------------------------------------------------------------------------
    // Extensions and prices
    // ------------------------------------------------------------------------------------------

    /// Extending adds whole months to the current (midnight) expiry, or runs from now rounded up
    /// to a midnight once lapsed, at the current price; a price change alone never moves an
    /// expiry. The unserved part of the old segment is carried into the new one exactly, the
    /// served part is released, and cancelling later still splits exactly.
    function testFuzz_extend(
        uint256 m1,
        uint256 m2,
        uint256 gap,
        uint256 price2,
        uint256 cancelAfter,
        bool processFirst
    ) public {
        m1 = bound(m1, 1, 24);
        m2 = bound(m2, 1, 24);
        // Half the largest price, so that what is carried plus the extension fits in uint96.
        price2 = bound(price2, 0, MAX_PRICE / 2);
        uint256 paid1 = _buy(USER, node, CLIENT, m1);
        uint256 expiry1 = _endOfDay(START + m1 * MONTH);
        assertEq(_rec(node, CLIENT).expiresAt, expiry1, "expiry rounded up to midnight");
        gap = bound(gap, 0, expiry1 - START + 60 days);

        _setPrice(price2);
        assertEq(_rec(node, CLIENT).expiresAt, expiry1, "a price change does not move expiry");

        uint256 t = START + gap;
        vm.warp(t);
        // Folding the lapsed purchase first or not must not matter.
        if (processFirst) escrow.processExpiries(node, type(uint256).max);
        uint256 unserved1 = _status(node, CLIENT).refundableNow; // no fee set
        uint256 paid2 = _extendBy(node, CLIENT, m2); // at price2, the node's price now
        _assertKept(node, CLIENT, "after extend");
        uint256 expected = t < expiry1 ? expiry1 + m2 * MONTH : _endOfDay(t + m2 * MONTH);
        ISubscriptionEscrow.Subscription memory sub = _rec(node, CLIENT);
        assertEq(sub.expiresAt, expected, "expiry after extend");
        assertEq(expected % 1 days, 0, "on a midnight");
        assertEq(sub.start, t, "new segment starts now");
        assertEq(token.balanceOf(address(escrow)), paid1 + paid2, "escrow got both payments");

        // The new segment holds the new payment plus exactly the old one's unserved part.
        uint256 carried = sub.paid - paid2;
        assertEq(carried, unserved1, "carried = unserved part of the first purchase");
        if (t >= expiry1) assertEq(carried, 0, "nothing carried from a lapsed purchase");
        else _assertServedIsProRata(paid1 - carried, paid1, gap, expiry1 - START);
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertGe(e.earned, paid1 - carried, "the served part is released");
        assertEq(e.earned + e.unreleased, paid1 + paid2, "earned + unreleased == paid");

        cancelAfter = bound(cancelAfter, 0, expected - t - 1);
        vm.warp(t + cancelAfter);
        uint256 refund = _cancel(node, CLIENT);
        _assertServedIsProRata(sub.paid - refund, sub.paid, cancelAfter, expected - t);
        e = escrow.nodeEarnings(node);
        assertEq(refund + e.earned, paid1 + paid2, "refund + earned == paid");
        assertEq(e.unreleased, 0, "nothing unreleased");
        if (t >= expiry1) assertGe(e.earned, paid1, "lapsed purchase fully earned");
    }

    /// Expiries and quotes fall on midnights; the extra time is less than a day; months left
    /// round up; extensions add whole months and may reach at most the end of the day of
    /// now + MAX_PREPAID (ExpiryTooFar reports exactly that bound).
    function testFuzz_expiriesOnMidnightsAndCap(uint256 startOffset, uint256 m1, uint256 m2, uint256 m3, uint256 gap)
        public
    {
        uint256 t0 = START + bound(startOffset, 0, 2 days);
        vm.warp(t0);
        m1 = bound(m1, 1, 24);
        m2 = bound(m2, 1, 24);
        m3 = bound(m3, 1, 24);
        uint256 quoted = escrow.quote(node, m1).expiresAt;
        _buy(USER, node, CLIENT, m1);
        uint256 expiry = _rec(node, CLIENT).expiresAt;
        assertEq(expiry, quoted, "quote == purchase");
        assertEq(expiry % 1 days, 0, "midnight");
        assertGe(expiry, t0 + m1 * MONTH, "at least what was paid");
        assertLe(expiry, t0 + m1 * MONTH + 1 days - 1, "less than a day more");
        assertEq(_status(node, CLIENT).monthsLeft, m1, "a fresh purchase shows the months bought");

        uint256[2] memory more = [m2, m3];
        for (uint256 i = 0; i < 2; ++i) {
            vm.warp(block.timestamp + bound(uint256(keccak256(abi.encode(gap, i))), 0, 10 days));
            uint256 price = _price(node);
            _mint(USER, price * more[i]);
            _approveEscrow(USER, price * more[i]);
            uint256 next = expiry + more[i] * MONTH;
            uint256 cap = _endOfDay(block.timestamp + MAX_PREPAID);
            if (next > cap) {
                vm.expectRevert(abi.encodeWithSelector(ISubscriptionEscrow.ExpiryTooFar.selector, next, cap));
            }
            ISubscriptionEscrow.Subscription memory sub = _rec(node, CLIENT);
            vm.prank(USER);
            if (next <= cap) {
                _keep(node, CLIENT, escrow.extend(node, CLIENT, sub, more[i], price));
                expiry = next;
            } else {
                escrow.extend(node, CLIENT, sub, more[i], price);
            }
            _assertKept(node, CLIENT, "after extend");
            assertEq(_rec(node, CLIENT).expiresAt, expiry, "expiry after extend");
            assertEq(_status(node, CLIENT).monthsLeft, _monthsLeft(expiry - block.timestamp), "months left rounded up");
        }
    }

    /// Processing expiries in storage, a few days at a time, gives the same books as the view
    /// that folds them in memory; ended subscriptions cannot be cancelled, running ones can,
    /// and once everything ended the provider gets all of it and the escrow is empty.
    function testFuzz_processExpiriesInSteps(uint256 seed, uint256 step, uint256 warpBy) public {
        address[3] memory users = [USER, USER2, USER3];
        address[3] memory clients = [CLIENT, CLIENT2, CLIENT3];
        uint256 total;
        for (uint256 i = 0; i < 3; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            _setPrice(bound(r, 1, 1e24));
            total += _buy(users[i], node, clients[i], bound(r >> 128, 1, 3));
            vm.warp(block.timestamp + bound(r >> 64, 0, 40 days));
        }
        vm.warp(block.timestamp + bound(warpBy, 0, 150 days));
        ISubscriptionEscrow.NodeEarnings memory view0 = escrow.nodeEarnings(node);
        for (uint256 k = 0; k < 4; ++k) {
            escrow.processExpiries(node, bound(step, 0, 2));
            ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
            assertEq(e.earned, view0.earned, "processing does not change earned");
            assertEq(e.unreleased, view0.unreleased, "processing does not change unreleased");
        }
        escrow.processExpiries(node, type(uint256).max);
        assertEq(escrow.nodeEarnings(node).earned, view0.earned, "processing everything");

        uint256 refunds;
        for (uint256 i = 0; i < 3; ++i) {
            ISubscriptionEscrow.Subscription memory sub = _rec(node, clients[i]);
            if (block.timestamp >= sub.expiresAt) {
                assertEq(_status(node, clients[i]).refundableNow, 0, "ended owes nothing");
                _expectNotActive(users[i], clients[i], sub.expiresAt);
            } else {
                refunds += _cancel(node, clients[i]);
            }
        }
        vm.warp(block.timestamp + 200 days);
        ISubscriptionEscrow.NodeEarnings memory last = escrow.nodeEarnings(node);
        assertEq(last.unreleased, 0, "nothing unreleased");
        assertEq(last.earned + refunds, total, "earned + refunds == paid");
        if (last.withdrawable != 0) {
            vm.prank(PROVIDER);
            escrow.withdraw(node);
        }
        assertEq(token.balanceOf(PAYOUT) + refunds, total, "payout + refunds == paid");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    // ------------------------------------------------------------------------------------------
    // Removals
    // ------------------------------------------------------------------------------------------

    /// After a provider or node removal at T: release stops at T; each subscription still
    /// running at T gets back exactly its unserved part as of T (no fee, even much later); one that
    /// ended at or before T (T exactly on its midnight expiry included) cannot be cancelled and is
    /// released to the provider by processing; the escrow ends empty.
    function testFuzz_removalSplitsAtRemovalTime(
        uint256 price,
        uint256 months,
        uint256 removeAt,
        uint256 later,
        bool removeNodeOnly,
        uint256 startOffset
    ) public {
        price = bound(price, 1, MAX_PRICE);
        months = bound(months, 1, 24);
        _setPrice(price);
        _setFee(1000);
        Bought[2] memory subs;
        subs[0].start = START + bound(startOffset, 0, 1 days);
        subs[1].start = subs[0].start + 1 hours; // same expiry, or the next midnight
        (subs[0].owner, subs[0].clientId, subs[1].owner, subs[1].clientId) = (USER, CLIENT, USER2, CLIENT2);
        for (uint256 i = 0; i < 2; ++i) {
            vm.warp(subs[i].start);
            subs[i].paid = _buy(subs[i].owner, node, subs[i].clientId, months);
            subs[i].expiry = _endOfDay(subs[i].start + months * MONTH);
            assertEq(_rec(node, subs[i].clientId).expiresAt, subs[i].expiry, "expiry");
        }

        // Up to two days past the later expiry; a quarter of the runs exactly on an expiry.
        uint256 pick = uint256(keccak256(abi.encode(removeAt)));
        if (pick % 4 == 0) removeAt = subs[(pick >> 8) % 2].expiry;
        else removeAt = bound(removeAt, subs[1].start, subs[1].expiry + 2 days);
        vm.warp(removeAt);
        if (removeNodeOnly) registry.removeNode(node);
        else registry.removeProvider(PROVIDER, "fuzz");
        assertEq(registry.terminatedAt(node), removeAt, "terminatedAt");

        vm.warp(removeAt + bound(later, 0, 3 * (subs[1].expiry - subs[0].start)));
        ISubscriptionEscrow.NodeEarnings memory frozen = escrow.nodeEarnings(node);
        uint256 refunds = _cancelOrProcess(subs[0], removeAt) + _cancelOrProcess(subs[1], removeAt);

        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertGe(e.earned, frozen.earned, "cancels only add (rounding) to earnings");
        assertEq(e.earned + refunds, subs[0].paid + subs[1].paid, "nothing lost");
        assertEq(e.unreleased, 0, "nothing unreleased");
        // Frozen: waiting longer changes nothing.
        vm.warp(block.timestamp + 365 days);
        assertEq(escrow.nodeEarnings(node).earned, e.earned, "no release after removal");
        vm.prank(PROVIDER);
        escrow.withdraw(node);
        assertEq(token.balanceOf(PAYOUT), e.earned, "payout");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    struct Bought {
        address owner;
        address clientId;
        uint256 paid;
        uint256 start;
        uint256 expiry;
    }

    /// After a removal at `removedAt`: cancel a subscription that was running then (refund as
    /// status said, no fee, pro rata as of the removal), or check that an ended one cannot be
    /// cancelled, owes nothing, and is released by processing.
    function _cancelOrProcess(Bought memory sub, uint256 removedAt) internal returns (uint256 refund) {
        ISubscriptionEscrow.SubscriptionStatus memory st = _status(node, sub.clientId);
        assertEq(st.active, false, "inactive after removal");
        assertEq(st.cancellationFeeNow, 0, "no fee after removal");
        if (removedAt < sub.expiry) {
            refund = _cancel(node, sub.clientId);
            assertEq(refund, st.refundableNow, "refund as status said");
            _assertServedIsProRata(sub.paid - refund, sub.paid, removedAt - sub.start, sub.expiry - sub.start);
        } else {
            assertEq(st.refundableNow, 0, "ended before the removal: nothing to refund");
            _expectNotActive(sub.owner, sub.clientId, sub.expiry);
            uint256 before = escrow.nodeEarnings(node).earned;
            escrow.processExpiries(node, type(uint256).max);
            assertEq(escrow.nodeEarnings(node).earned, before, "the view already counted it");
        }
    }

    /// After a removal at T, moving a subscription onto another key is judged at T: a key whose
    /// subscription was still running at T is taken (its owner keeps the refund), one that ended
    /// at or before T is free and its payment goes to the provider. Nothing is lost either way.
    function testFuzz_setClientIdAfterRemoval(uint256 m1, uint256 m2, uint256 removeAt, uint256 later) public {
        m1 = bound(m1, 1, 3);
        m2 = bound(m2, 1, 3);
        uint256 paid = _buy(USER, node, CLIENT, m1);
        vm.warp(START + 1 hours);
        paid += _buy(USER2, node, CLIENT2, m2);
        uint256 e1 = _rec(node, CLIENT).expiresAt;
        uint256 e2 = _rec(node, CLIENT2).expiresAt;
        uint256 pick = uint256(keccak256(abi.encode(removeAt)));
        if (pick % 4 == 0) removeAt = e1 - ((pick >> 8) % 2); // on, or a second before, CLIENT's expiry
        else removeAt = bound(removeAt, START + 1 hours, (e1 > e2 ? e1 : e2) + 2 days);
        vm.warp(removeAt);
        registry.removeProvider(PROVIDER, "fuzz");
        vm.warp(removeAt + bound(later, 0, 200 days));

        uint256 refund1 = _status(node, CLIENT).refundableNow;
        uint256 refunds;
        ISubscriptionEscrow.ClientConsent memory consent = _consent(node, CLIENT, USER2);
        if (removeAt < e1) {
            assertGe(refund1, 1, "CLIENT's subscription was running at the removal");
            vm.expectRevert(abi.encodeWithSelector(ISubscriptionEscrow.ClientIdTaken.selector, node, CLIENT));
            vm.prank(USER2);
            escrow.setClientId(node, CLIENT2, _rec(node, CLIENT2), CLIENT, consent);
            refunds += _cancel(node, CLIENT);
            assertEq(refunds, refund1, "the owner still gets the refund");
        } else {
            assertEq(refund1, 0, "ended before the removal");
            _move(node, CLIENT2, CLIENT);
            _assertKept(node, CLIENT, "moved onto the lapsed key");
            _assertKept(node, CLIENT2, "old key empty");
            assertEq(_rec(node, CLIENT).owner, USER2, "moved onto the free key");
        }
        address client2 = _rec(node, CLIENT2).owner == USER2 ? CLIENT2 : CLIENT;
        if (removeAt < e2) refunds += _cancel(node, client2);
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(e.unreleased, 0, "nothing unreleased");
        assertEq(e.earned + refunds, paid, "earned + refunds == paid");
        vm.prank(PROVIDER);
        escrow.withdraw(node);
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    /// Random subscribers, extensions, a removal at a random time (possibly exactly when some
    /// subscription ends): everybody cancels or has its ended subscription processed, the
    /// provider withdraws, nothing is left.
    function testFuzz_endEverythingLeavesNothing(uint256 seed, uint256 removeAfter, bool removeNodeOnly) public {
        address[3] memory users = [USER, USER2, USER3];
        address[3] memory clients = [CLIENT, CLIENT2, CLIENT3];
        uint256[3] memory paid;
        uint256 total;
        for (uint256 i = 0; i < 3; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            _setPrice(bound(r, 0, 1e24));
            paid[i] = _buy(users[i], node, clients[i], bound(r >> 100, 1, 3));
            vm.warp(block.timestamp + bound(r >> 150, 0, 20 days));
            if ((r >> 200) % 2 == 0) {
                paid[i] += _extendBy(node, clients[i], 2);
            }
            total += paid[i];
        }
        // Half of the runs remove exactly on (or a second before) some subscription's expiry.
        uint256 removeAt = block.timestamp + bound(removeAfter, 0, 200 days);
        uint256 pick = uint256(keccak256(abi.encode(removeAfter)));
        if (pick % 2 == 0) {
            uint256 expiry = _rec(node, clients[(pick >> 8) % 3]).expiresAt;
            uint256 candidate = expiry - ((pick >> 16) % 2);
            if (candidate >= block.timestamp) removeAt = candidate;
        }
        vm.warp(removeAt);
        if (removeNodeOnly) registry.removeNode(node);
        else registry.removeProvider(PROVIDER, "end");
        vm.warp(block.timestamp + 3 days);

        uint256 refunds;
        for (uint256 i = 0; i < 3; ++i) {
            ISubscriptionEscrow.SubscriptionStatus memory st = _status(node, clients[i]);
            vm.prank(users[i]);
            try escrow.cancel(node, clients[i], _rec(node, clients[i])) {
                uint256 got = token.balanceOf(users[i]);
                assertEq(got, st.refundableNow, "refund as predicted");
                assertEq(st.cancellationFeeNow, 0, "no fee after removal");
                assertLe(got, paid[i], "refund <= paid");
                refunds += got;
            } catch {
                assertEq(st.refundableNow, 0, "a subscription that cannot be cancelled owes nothing");
                try escrow.processExpiries(node, type(uint256).max) {} catch {}
            }
        }
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(e.unreleased, 0, "nothing unreleased");
        if (e.withdrawable != 0) {
            vm.prank(PROVIDER);
            escrow.withdraw(node);
        }
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
        assertEq(token.balanceOf(PAYOUT) + refunds, total, "paid = withdrawn + refunds");
    }

    // ------------------------------------------------------------------------------------------
    // Client-key consent, fee bound, switched-off nodes
    // ------------------------------------------------------------------------------------------

    /// @dev Subscribe for a month; `expected` is the revert data expected ("" for none).
    function _subscribeAs(
        address payer,
        address clientId,
        ISubscriptionEscrow.ClientConsent memory consent,
        bytes memory expected
    ) internal {
        _mint(payer, 1e18);
        _approveEscrow(payer, 1e18);
        vm.prank(payer);
        if (expected.length != 0) {
            vm.expectRevert(expected);
            escrow.subscribe(node, clientId, 1, 1e18, 0, consent);
        } else {
            _keep(node, clientId, escrow.subscribe(node, clientId, 1, 1e18, 0, consent));
        }
    }

    /// A stranger cannot occupy a client key: without the key's signature, with a signature for
    /// another owner, another node or by another key, or an expired one, the purchase reverts and
    /// the key stays free; the key itself needs no signature, and a consent to a payer works.
    function testFuzz_strangerCannotOccupyClientKey(address stranger, uint256 otherKeySeed, uint256 late) public {
        vm.assume(stranger != CLIENT && stranger != address(0) && stranger != address(escrow));
        uint256 otherPk = boundPrivateKey(otherKeySeed);
        vm.assume(vm.addr(otherPk) != CLIENT);
        uint256 deadline = block.timestamp + 1 hours;
        ISubscriptionEscrow.ClientConsent memory none;

        _subscribeAs(
            stranger, CLIENT, none, abi.encodeWithSelector(ISubscriptionEscrow.InvalidClientConsent.selector, CLIENT, 0)
        );

        ISubscriptionEscrow.ClientConsent memory forged = ISubscriptionEscrow.ClientConsent(deadline, "");
        (uint8 v, bytes32 r, bytes32 s_) = vm.sign(otherPk, escrow.clientConsentDigest(node, stranger, deadline));
        forged.signature = abi.encodePacked(r, s_, v);
        _subscribeAs(
            stranger,
            CLIENT,
            forged,
            abi.encodeWithSelector(ISubscriptionEscrow.InvalidClientConsent.selector, CLIENT, vm.addr(otherPk))
        );

        // Signed by the key, but for USER: the stranger cannot use it.
        ISubscriptionEscrow.ClientConsent memory forUser = _consent(node, CLIENT, USER);
        _mint(stranger, 1e18);
        _approveEscrow(stranger, 1e18);
        vm.prank(stranger);
        try escrow.subscribe(node, CLIENT, 1, 1e18, 0, forUser) {
            fail("a consent to USER let a stranger in");
        } catch (bytes memory err) {
            assertEq(bytes32(bytes4(err)), bytes32(ISubscriptionEscrow.InvalidClientConsent.selector), "error");
        }

        // Expired.
        ISubscriptionEscrow.ClientConsent memory consent = _consent(node, CLIENT, stranger);
        uint256 t = block.timestamp;
        vm.warp(consent.deadline + bound(late, 1, 365 days));
        _subscribeAs(
            stranger,
            CLIENT,
            consent,
            abi.encodeWithSelector(ISubscriptionEscrow.ClientConsentExpired.selector, consent.deadline, block.timestamp)
        );
        assertEq(escrow.subscriptionCommitment(node, CLIENT), 0, "the key is still free");
        vm.warp(t);

        // With the key's consent the stranger may pay for it; the key itself needs none.
        _subscribeAs(stranger, CLIENT, consent, "");
        assertEq(_rec(node, CLIENT).owner, stranger, "bought with consent");
        _assertKept(node, CLIENT, "bought with consent");
        _subscribeAs(CLIENT2, CLIENT2, none, "");
        assertEq(_rec(node, CLIENT2).owner, CLIENT2, "the key pays for itself");
        _assertKept(node, CLIENT2, "the key pays for itself");
    }

    /// Moving a subscription onto a key needs that key's consent too.
    function test_setClientIdNeedsTheNewKeysConsent() public {
        _buy(USER, node, CLIENT, 1);
        ISubscriptionEscrow.ClientConsent memory none;
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionEscrow.InvalidClientConsent.selector, CLIENT2, address(0)));
        ISubscriptionEscrow.Subscription memory sub = _rec(node, CLIENT);
        vm.prank(USER);
        escrow.setClientId(node, CLIENT, sub, CLIENT2, none);
        _assertKept(node, CLIENT, "nothing moved without consent");
        _move(node, CLIENT, CLIENT2);
        _assertKept(node, CLIENT2, "moved with consent");
        _assertKept(node, CLIENT, "old key empty");
        assertEq(_rec(node, CLIENT2).owner, USER, "moved with consent");
    }

    /// A fee above the buyer's maximum reverts the purchase; at or below it, it is locked.
    function testFuzz_feeBound(uint256 feeBps, uint256 maxFeeBps) public {
        feeBps = bound(feeBps, 0, 1000);
        maxFeeBps = bound(maxFeeBps, 0, 1000);
        _setFee(feeBps);
        _mint(USER, 1e18);
        _approveEscrow(USER, 1e18);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(node, CLIENT, USER);
        if (feeBps > maxFeeBps) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ISubscriptionEscrow.CancellationFeeAboveMaximum.selector, PROVIDER, feeBps, maxFeeBps
                )
            );
        }
        vm.prank(USER);
        if (feeBps <= maxFeeBps) _keep(node, CLIENT, escrow.subscribe(node, CLIENT, 1, 1e18, maxFeeBps, consent));
        else escrow.subscribe(node, CLIENT, 1, 1e18, maxFeeBps, consent);
        _assertKept(node, CLIENT, "after the purchase");
        if (feeBps <= maxFeeBps) assertEq(_rec(node, CLIENT).cancellationFeeBps, feeBps, "locked");
        else assertEq(token.balanceOf(address(escrow)), 0, "nothing taken");
    }

    /// A provider cannot switch off a node while subscribers hold paid time; once it all ran
    /// out it can.
    function testFuzz_noDeactivationWhilePaid(uint256 months, uint256 warpBy) public {
        registry.setEscrow(address(escrow));
        months = bound(months, 1, 24);
        _buy(USER, node, CLIENT, months);
        uint256 expiresAt = _rec(node, CLIENT).expiresAt;
        vm.warp(bound(warpBy, block.timestamp, expiresAt + 30 days));
        if (block.timestamp < expiresAt) {
            vm.expectRevert(abi.encodeWithSelector(IMailServerRegistry.NodeHasPaidSubscriptions.selector, node));
        }
        vm.prank(PROVIDER);
        registry.setNodeActive(node, false);
        assertEq(registry.isTrusted(node), block.timestamp < expiresAt, "switched off only when nothing is owed");
    }

    /// Disabling the kind ends the node's subscriptions at that moment, as a removal does: the
    /// refund is the unserved part then, fee-free, whatever happens later (even re-enabling).
    function testFuzz_kindDisableTerminates(uint256 months, uint256 disableAfter, uint256 later, bool reenable) public {
        _setFee(1000);
        months = bound(months, 1, 24);
        uint256 paid = _buy(USER, node, CLIENT, months);
        ISubscriptionEscrow.Subscription memory sub = _rec(node, CLIENT);
        vm.warp(block.timestamp + bound(disableAfter, 0, months * MONTH + 2 days));
        uint256 disabledAt = block.timestamp;
        uint256 unserved = disabledAt >= sub.expiresAt
            ? 0
            : (((paid * PRECISION) / (sub.expiresAt - sub.start)) * (sub.expiresAt - disabledAt)) / PRECISION;
        if (unserved > paid) unserved = paid;
        registry.setKindEnabled(kind, false);
        if (reenable) registry.setKindEnabled(kind, true);
        vm.warp(block.timestamp + bound(later, 0, 400 days));

        assertEq(registry.terminatedAt(node), disabledAt, "terminated at the disabling");
        assertFalse(registry.isTrusted(node), "a retired node stays untrusted");
        assertEq(_status(node, CLIENT).refundableNow, unserved, "refund as of the disabling, no fee");
        uint256 refund = disabledAt < sub.expiresAt ? _cancel(node, CLIENT) : 0;
        assertEq(refund, unserved, "refund paid");
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(e.unreleased, 0, "nothing unreleased");
        assertEq(e.earned + refund, paid, "earned + refund == paid");
        if (e.withdrawable != 0) {
            vm.prank(PROVIDER);
            escrow.withdraw(node);
        }
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }
}
