// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EscrowSetup} from "./utils/EscrowSetup.sol";
import {ISubscriptionEscrow} from "../../contracts/interfaces/ISubscriptionEscrow.sol";

/// @dev Fuzz tests of the escrow's money: refunds, release, extensions and removals.
contract SubscriptionEscrowTest is EscrowSetup {
    uint256 internal constant START = 1_700_000_000;
    address internal constant PROVIDER = address(0xB0B);
    address internal constant PAYOUT = address(0xBEEF);
    address internal constant USER = address(0xA11CE);
    address internal constant USER2 = address(0xCA401);
    address internal constant USER3 = address(0xDA7E);
    address internal constant CLIENT = address(0xC1);
    address internal constant CLIENT2 = address(0xC2);
    address internal constant CLIENT3 = address(0xC3);
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

    /// @dev |served - paid * elapsed / duration| <= 1, without division.
    function _assertServedIsProRata(uint256 served, uint256 paid, uint256 elapsed, uint256 duration) internal pure {
        assertLe(paid * elapsed, served * duration + duration, "served >= pro rata - 1");
        assertLe(served * duration, paid * elapsed + duration, "served <= pro rata + 1");
    }

    // ------------------------------------------------------------------------------------------
    // Refund math
    // ------------------------------------------------------------------------------------------

    /// refund + fee + served == paid; served is pro rata; the fee is the locked rate of the
    /// unserved part; status predicted it; the provider can take the rest, leaving nothing.
    function testFuzz_cancelSplitsPaymentExactly(uint256 price, uint256 months, uint256 elapsed, uint256 feeBps)
        public
    {
        price = bound(price, 0, MAX_PRICE);
        months = bound(months, 1, 24);
        uint256 duration = months * MONTH;
        elapsed = bound(elapsed, 0, duration - 1);
        feeBps = bound(feeBps, 0, 1000);
        _setPrice(price);
        _setFee(feeBps);
        uint256 paid = _buy(USER, node, CLIENT, months);
        assertEq(paid, price * months, "paid");
        assertEq(escrow.getSubscription(node, CLIENT).cancellationFeeBps, feeBps, "fee locked");
        _setFee(feeBps == 0 ? 1000 : 0); // later changes do not apply

        vm.warp(START + elapsed);
        ISubscriptionEscrow.SubscriptionStatus memory st = _status(node, CLIENT);
        uint256 refund = _cancel(node, CLIENT);
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
        uint256 duration = months * MONTH;
        t1 = bound(t1, 0, duration + 10 days);
        t2 = bound(t2, t1, duration + 20 days);
        _setPrice(price);
        _setFee(feeBps);
        uint256 paid = _buy(USER, node, CLIENT, months);

        vm.warp(START + t1);
        ISubscriptionEscrow.SubscriptionStatus memory a = _status(node, CLIENT);
        vm.warp(START + t2);
        ISubscriptionEscrow.SubscriptionStatus memory b = _status(node, CLIENT);
        assertLe(b.refundableNow, a.refundableNow, "refund decreased or stayed");
        assertLe(b.refundableNow + b.cancellationFeeNow, a.refundableNow + a.cancellationFeeNow, "unserved decreased");
        assertLe(a.refundableNow + a.cancellationFeeNow, paid, "unserved <= paid");
        if (t2 >= duration) {
            assertEq(b.refundableNow, 0, "nothing after expiry");
            assertEq(b.active, false, "inactive after expiry");
            assertEq(b.monthsLeft, 0, "no months left");
        } else {
            assertEq(b.active, true, "active before expiry");
            assertEq(b.monthsLeft, (duration - t2 + MONTH - 1) / MONTH, "months left rounded up");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Release
    // ------------------------------------------------------------------------------------------

    /// Earned never decreases, never exceeds what was paid, lags the pro-rata amount by at most
    /// one day's worth, and is everything once the expiry day is over.
    function testFuzz_releaseBoundedAndMonotonic(uint256 price, uint256 months, uint256 t1, uint256 t2) public {
        price = bound(price, 0, MAX_PRICE);
        months = bound(months, 1, 24);
        uint256 duration = months * MONTH;
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
        // Pro rata minus at most one day (the expiry day is counted from its start) minus rounding.
        assertLe(paid * elapsed, (b.earned + 2) * duration + paid * 1 days, "earned lags by at most a day");
        if ((START + t2) / 1 days > (START + duration) / 1 days) assertEq(b.earned, paid, "all after the expiry day");
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

    /// Extending adds months after the current expiry (or from now once lapsed), at the current
    /// price; a price change alone never moves an expiry; cancelling still splits exactly.
    function testFuzz_extend(uint256 m1, uint256 m2, uint256 gap, uint256 price2, uint256 cancelAfter) public {
        m1 = bound(m1, 1, 24);
        m2 = bound(m2, 1, 24);
        gap = bound(gap, 0, m1 * MONTH + 60 days);
        price2 = bound(price2, 0, MAX_PRICE);
        uint256 paid1 = _buy(USER, node, CLIENT, m1);
        uint256 expiry1 = START + m1 * MONTH;

        _setPrice(price2);
        assertEq(escrow.getSubscription(node, CLIENT).expiresAt, expiry1, "a price change does not move expiry");

        vm.warp(START + gap);
        uint256 paid2 = price2 * m2;
        token.mint(USER, paid2);
        vm.prank(USER);
        token.approve(address(escrow), paid2);
        vm.prank(USER);
        escrow.extend(node, CLIENT, m2, price2);
        uint256 expected = (START + gap < expiry1 ? expiry1 : START + gap) + m2 * MONTH;
        assertEq(escrow.getSubscription(node, CLIENT).expiresAt, expected, "expiry after extend");
        assertEq(token.balanceOf(address(escrow)), paid1 + paid2, "escrow got both payments");

        cancelAfter = bound(cancelAfter, 0, expected - block.timestamp - 1);
        vm.warp(block.timestamp + cancelAfter);
        uint256 refund = _cancel(node, CLIENT);
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(refund + e.earned, paid1 + paid2, "refund + earned == paid");
        if (START + gap >= expiry1 + 1 days) {
            // The first purchase was served in full.
            assertGe(e.earned, paid1, "lapsed purchase fully earned");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Removals
    // ------------------------------------------------------------------------------------------

    /// After a provider or node removal: release stops at the removal, each subscriber gets
    /// exactly its unserved part as of the removal (no fee, even much later), the provider the
    /// rest, and the escrow ends empty.
    function testFuzz_removalSplitsAtRemovalTime(
        uint256 price,
        uint256 months,
        uint256 removeAt,
        uint256 later,
        bool removeNodeOnly
    ) public {
        price = bound(price, 1, MAX_PRICE);
        months = bound(months, 1, 24);
        uint256 duration = months * MONTH;
        _setPrice(price);
        _setFee(1000);
        uint256 paid1 = _buy(USER, node, CLIENT, months);
        vm.warp(START + 1 hours);
        uint256 paid2 = _buy(USER2, node, CLIENT2, months);
        removeAt = bound(removeAt, 1 hours, duration - 1);
        vm.warp(START + removeAt);
        if (removeNodeOnly) registry.removeNode(node);
        else registry.removeProvider(PROVIDER, "fuzz");
        assertEq(registry.terminatedAt(node), START + removeAt, "terminatedAt");

        vm.warp(START + removeAt + bound(later, 0, 3 * duration));
        ISubscriptionEscrow.NodeEarnings memory frozen = escrow.nodeEarnings(node);
        uint256 refund1 = _cancel(node, CLIENT);
        uint256 refund2 = _cancel(node, CLIENT2);
        _assertServedIsProRata(paid1 - refund1, paid1, removeAt, duration);
        _assertServedIsProRata(paid2 - refund2, paid2, removeAt - 1 hours, duration);

        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertGe(e.earned, frozen.earned, "cancels only add (rounding) to earnings");
        assertEq(e.earned + refund1 + refund2, paid1 + paid2, "nothing lost");
        // Frozen: waiting longer changes nothing.
        vm.warp(block.timestamp + 365 days);
        assertEq(escrow.nodeEarnings(node).earned, e.earned, "no release after removal");
        vm.prank(PROVIDER);
        escrow.withdraw(node);
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    /// Random subscribers, extensions, a removal on a random day (possibly the day some
    /// subscription ends): everybody cancels or settles, the provider withdraws, nothing is left.
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
                uint256 amount = _price(node) * 2;
                token.mint(users[i], amount);
                vm.prank(users[i]);
                token.approve(address(escrow), amount);
                uint256 price = _price(node);
                vm.prank(users[i]);
                escrow.extend(node, clients[i], 2, price);
                paid[i] += amount;
            }
            total += paid[i];
        }
        vm.warp(block.timestamp + bound(removeAfter, 0, 200 days));
        if (removeNodeOnly) registry.removeNode(node);
        else registry.removeProvider(PROVIDER, "end");
        vm.warp(block.timestamp + 3 days);

        uint256 refunds;
        for (uint256 i = 0; i < 3; ++i) {
            ISubscriptionEscrow.SubscriptionStatus memory st = _status(node, clients[i]);
            vm.prank(users[i]);
            try escrow.cancel(node, clients[i]) {
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
}
