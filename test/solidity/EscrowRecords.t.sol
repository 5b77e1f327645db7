// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EscrowSetup} from "./utils/EscrowSetup.sol";
import {Records} from "./utils/Records.sol";
import {ISubscriptionEscrow} from "../../contracts/interfaces/ISubscriptionEscrow.sol";
import {SubscriptionEscrow} from "../../contracts/SubscriptionEscrow.sol";
import {PermitToken} from "../../contracts/test/PermitToken.sol";

/// @dev The escrow stores one commitment per subscription and takes the record back as calldata:
/// the record every function returns is the one its event carries and the one stored; a stale or
/// forged record is refused by every function that manages a subscription and changes nothing;
/// a lapsed key is reused by overwriting its commitment, and the lapsed segment still goes to
/// the provider exactly.
contract EscrowRecordsTest is EscrowSetup {
    uint256 internal constant START = 1_700_000_000;
    address internal constant PROVIDER = address(0xB0B);
    address internal constant PAYOUT = address(0xBEEF);
    address internal constant USER = address(0xA11CE);
    address internal constant USER2 = address(0xCA401);
    address internal immutable CLIENT = _clientOf(0xC1);
    address internal immutable CLIENT2 = _clientOf(0xC2);
    uint256 internal constant MAX_PRICE = type(uint96).max / 48;

    bytes32 internal node;

    function setUp() public {
        vm.warp(START);
        _deploy();
        _addProvider(PROVIDER, PAYOUT);
        node = _addNode(PROVIDER, 1, 1e18);
        vm.prank(PROVIDER);
        escrow.setCancellationFee(300);
    }

    function _setPrice(uint256 price) internal {
        vm.prank(PROVIDER);
        registry.setNodePrice(node, uint96(price));
    }

    function _mismatch(address clientId) internal view returns (bytes memory) {
        return abi.encodeWithSelector(ISubscriptionEscrow.SubscriptionRecordMismatch.selector, node, clientId);
    }

    /// @dev Everything a refused call must leave alone: both keys' commitments, the balances of
    /// the escrow and the owners, the owners' allowances and the node's books.
    function _fingerprint() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                escrow.subscriptionCommitment(node, CLIENT),
                escrow.subscriptionCommitment(node, CLIENT2),
                token.balanceOf(address(escrow)),
                token.balanceOf(USER),
                token.balanceOf(USER2),
                token.allowance(USER, address(escrow)),
                escrow.nodeEarnings(node)
            )
        );
    }

    /// @dev Calls every management function with `sub` for (node, clientId) as `caller` (renew
    /// as anyone) and expects each to revert with `expected`, renew on an empty key with
    /// RenewalNotPossible(NoSubscription) (it reports why a renewal is not possible).
    function _expectAllRefuse(
        address clientId,
        ISubscriptionEscrow.Subscription memory sub,
        address caller,
        bytes memory expected
    ) internal {
        uint256 price = _price(node);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(node, CLIENT2, caller);
        vm.expectRevert(expected);
        vm.prank(caller);
        escrow.extend(node, clientId, sub, 1, price);
        vm.expectRevert(expected);
        vm.prank(caller);
        escrow.cancel(node, clientId, sub);
        vm.expectRevert(expected);
        vm.prank(caller);
        escrow.setAutoRenew(node, clientId, sub, 1, price);
        vm.expectRevert(expected);
        vm.prank(caller);
        escrow.setClientId(node, clientId, sub, CLIENT2, consent);
        if (escrow.subscriptionCommitment(node, clientId) == 0) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ISubscriptionEscrow.RenewalNotPossible.selector,
                    node,
                    clientId,
                    ISubscriptionEscrow.RenewalBlocker.NoSubscription
                )
            );
        } else {
            vm.expectRevert(expected);
        }
        escrow.renew(node, clientId, sub);
    }

    // ------------------------------------------------------------------------------------------
    // Returned, emitted and stored records agree
    // ------------------------------------------------------------------------------------------

    /// subscribe, extend, setAutoRenew and setClientId: the record returned is the one the event
    /// carries, its commitment (computed here) is what is stored, and expiries reads its expiry.
    function testFuzz_returnedRecordIsEmittedAndStored(uint256 months, uint256 more, uint256 later, uint256 renewMonths)
        public
    {
        months = bound(months, 1, 24);
        more = bound(more, 1, 24);
        renewMonths = bound(renewMonths, 0, 24);
        uint256 price = _price(node);
        _mint(USER, price * (months + more));
        _approveEscrow(USER, price * (months + more));
        ISubscriptionEscrow.ClientConsent memory consent = _consent(node, CLIENT, USER);

        vm.recordLogs();
        vm.prank(USER);
        ISubscriptionEscrow.Subscription memory sub = escrow.subscribe(node, CLIENT, months, price, 10_000, consent);
        _assertEmitted(sub, "Subscribed");
        assertEq(sub.owner, USER, "owner");
        assertEq(sub.start, block.timestamp, "start");
        assertEq(sub.expiresAt, _endOfDay(block.timestamp + months * MONTH), "expiresAt");
        assertEq(sub.cancellationFeeBps, 300, "fee locked");
        assertEq(sub.paid, price * months, "paid");
        assertEq(sub.renewMonths + sub.renewMaxPricePerMonth, 0, "no renewal");
        _keep(node, CLIENT, sub);
        _assertKept(node, CLIENT, "after subscribe");

        vm.warp(block.timestamp + bound(later, 0, months * MONTH));
        vm.prank(USER);
        sub = escrow.extend(node, CLIENT, sub, more, price);
        _assertEmitted(sub, "Extended");
        _keep(node, CLIENT, sub);
        _assertKept(node, CLIENT, "after extend");

        vm.prank(USER);
        sub = escrow.setAutoRenew(node, CLIENT, sub, renewMonths, 5e18);
        _assertEmitted(sub, "AutoRenewSet");
        assertEq(sub.renewMonths, renewMonths, "renew months");
        assertEq(sub.renewMaxPricePerMonth, renewMonths == 0 ? 0 : 5e18, "renew max price");
        _keep(node, CLIENT, sub);
        _assertKept(node, CLIENT, "after setAutoRenew");

        _move(node, CLIENT, CLIENT2);
        (bool found, ISubscriptionEscrow.Subscription memory moved) = _recordFromLogs(vm.getRecordedLogs());
        assertTrue(found, "ClientIdChanged carries the record");
        assertEq(Records.commitment(moved), Records.commitment(sub), "moved unchanged");
        _assertKept(node, CLIENT2, "after the move");
        _assertKept(node, CLIENT, "the old key is empty");
    }

    function _assertEmitted(ISubscriptionEscrow.Subscription memory sub, string memory what) internal {
        (bool found, ISubscriptionEscrow.Subscription memory emitted) = _recordFromLogs(vm.getRecordedLogs());
        assertTrue(found, string.concat(what, " carries the record"));
        assertEq(Records.commitment(emitted), Records.commitment(sub), string.concat(what, ": emitted == returned"));
        vm.recordLogs();
    }

    /// subscribeWithPermit (an EIP-2612 token, the permit possibly front-run) returns the record
    /// it stores, as subscribe does.
    function testFuzz_subscribeWithPermitReturnsTheStoredRecord(uint256 months, uint256 keySeed, bool frontRun)
        public
    {
        PermitToken permitToken = new PermitToken();
        SubscriptionEscrow permitEscrow = new SubscriptionEscrow(address(registry), address(permitToken));
        uint256 pk = boundPrivateKey(keySeed);
        address payer = vm.addr(pk);
        months = bound(months, 1, 24);
        uint256 amount = _price(node) * months;
        permitToken.mint(payer, amount);
        ISubscriptionEscrow.Permit memory permit = _signPermit(permitToken, pk, address(permitEscrow), amount);
        if (frontRun) {
            permitToken.permit(payer, address(permitEscrow), amount, permit.deadline, permit.v, permit.r, permit.s);
        }

        ISubscriptionEscrow.ClientConsent memory none;
        uint256 price = _price(node);
        vm.prank(payer);
        ISubscriptionEscrow.Subscription memory sub =
            permitEscrow.subscribeWithPermit(node, payer, months, price, 10_000, none, permit);
        assertEq(
            permitEscrow.subscriptionCommitment(node, payer), Records.commitment(sub), "the returned record is stored"
        );
        assertTrue(permitEscrow.isCurrent(node, payer, sub), "current");
        assertEq(sub.owner, payer, "owner");
        assertEq(sub.paid, amount, "paid");
        assertEq(sub.expiresAt, _endOfDay(block.timestamp + months * MONTH), "expiresAt");
        assertEq(permitToken.balanceOf(address(permitEscrow)), amount, "escrow holds the payment");
        assertEq(permitToken.allowance(payer, address(permitEscrow)), 0, "no allowance left");
    }

    /// @dev An EIP-2612 permit by `pk` for `spender` to take `amount`, valid for an hour.
    function _signPermit(PermitToken permitToken, uint256 pk, address spender, uint256 amount)
        internal
        view
        returns (ISubscriptionEscrow.Permit memory permit)
    {
        permit.deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                vm.addr(pk),
                spender,
                amount,
                permitToken.nonces(vm.addr(pk)),
                permit.deadline
            )
        );
        (permit.v, permit.r, permit.s) =
            vm.sign(pk, keccak256(abi.encodePacked("\x19\x01", permitToken.DOMAIN_SEPARATOR(), structHash)));
    }

    /// A renewal returns (and emits) the record it stores; the record it replaced is refused.
    function testFuzz_renewReturnsTheStoredRecord(uint256 months, uint256 inWindow) public {
        months = bound(months, 1, 3);
        _buy(USER, node, CLIENT, 1);
        vm.prank(USER);
        _keep(node, CLIENT, escrow.setAutoRenew(node, CLIENT, _rec(node, CLIENT), months, 1e18));
        ISubscriptionEscrow.Subscription memory old = _rec(node, CLIENT);
        vm.warp(old.expiresAt - bound(inWindow, 1, 3 days));
        _mint(USER, months * 1e18);
        _approveEscrow(USER, months * 1e18);
        assertEq(uint256(escrow.renewalCheck(node, CLIENT, old)), 0, "renewable");
        vm.recordLogs();
        ISubscriptionEscrow.Subscription memory renewed = escrow.renew(node, CLIENT, old);
        _assertEmitted(renewed, "Extended (renewal)");
        assertEq(renewed.expiresAt, old.expiresAt + months * MONTH, "renewed by the opted-in months");
        _keep(node, CLIENT, renewed);
        _assertKept(node, CLIENT, "after renew");
        _expectAllRefuse(CLIENT, old, USER, _mismatch(CLIENT));
    }

    // ------------------------------------------------------------------------------------------
    // Stale and forged records
    // ------------------------------------------------------------------------------------------

    /// A record with any one field changed (by a fuzzed non-zero xor) is refused by extend,
    /// cancel, setAutoRenew, setClientId and renew with SubscriptionRecordMismatch, before the
    /// owner check; status and renewalCheck refuse it too; nothing changes; the real record still
    /// works afterwards.
    function testFuzz_forgedRecordIsRefused(uint256 field, uint256 delta, uint256 months, uint256 later, bool optIn)
        public
    {
        months = bound(months, 1, 24);
        _buy(USER, node, CLIENT, months);
        if (optIn) {
            vm.prank(USER);
            _keep(node, CLIENT, escrow.setAutoRenew(node, CLIENT, _rec(node, CLIENT), 1, 1e18));
        }
        vm.warp(block.timestamp + bound(later, 0, months * MONTH + 10 days));
        _mint(USER, 1e18);
        _approveEscrow(USER, 1e18);
        ISubscriptionEscrow.Subscription memory real = _rec(node, CLIENT);
        ISubscriptionEscrow.Subscription memory forged = Records.forged(real, field, delta);
        assertTrue(Records.commitment(forged) != Records.commitment(real), "the forgery differs");
        assertFalse(escrow.isCurrent(node, CLIENT, forged), "a forged record is not current");

        bytes32 before = _fingerprint();
        _expectAllRefuse(CLIENT, forged, USER, _mismatch(CLIENT));
        // Whoever the forged record names as owner: the record is checked first.
        if (forged.owner != USER && forged.owner != address(0)) {
            _expectAllRefuse(CLIENT, forged, forged.owner, _mismatch(CLIENT));
        }
        vm.expectRevert(_mismatch(CLIENT));
        escrow.status(node, CLIENT, forged);
        vm.expectRevert(_mismatch(CLIENT));
        escrow.renewalCheck(node, CLIENT, forged);
        assertEq(_fingerprint(), before, "refused calls change nothing");
        _assertKept(node, CLIENT, "the real record is still current");

        // The real record still manages the subscription.
        if (block.timestamp < real.expiresAt) {
            uint256 refund = _cancel(node, CLIENT);
            assertLe(refund, real.paid, "refund <= paid");
            _assertKept(node, CLIENT, "cancelled with the real record");
        }
    }

    /// The record of a key is refused once it changed (extension, renewal settings), or once it
    /// moved away or was cancelled (then nothing is stored: NoSubscription); the moved record is
    /// current under its new client id; a stranger holding the real record is refused as not the
    /// owner.
    function testFuzz_staleRecordIsRefused(uint256 months, uint256 later, uint256 what) public {
        months = bound(months, 1, 12);
        _buy(USER, node, CLIENT, months);
        ISubscriptionEscrow.Subscription memory first = _rec(node, CLIENT);
        vm.warp(block.timestamp + bound(later, 0, months * MONTH - 1));
        what %= 4;
        if (what == 0) {
            _extendBy(node, CLIENT, 1);
        } else if (what == 1) {
            vm.prank(USER);
            _keep(node, CLIENT, escrow.setAutoRenew(node, CLIENT, first, 2, 1e18));
        } else if (what == 2) {
            _move(node, CLIENT, CLIENT2);
            assertTrue(escrow.isCurrent(node, CLIENT2, first), "the record moved unchanged");
        } else {
            _cancel(node, CLIENT);
        }
        assertFalse(escrow.isCurrent(node, CLIENT, first), "the old record is not current");
        _mint(USER, 1e18);
        _approveEscrow(USER, 1e18);
        bytes32 before = _fingerprint();
        if (what < 2) {
            _expectAllRefuse(CLIENT, first, USER, _mismatch(CLIENT));
            vm.expectRevert(_mismatch(CLIENT));
            escrow.status(node, CLIENT, first);
        } else {
            _expectAllRefuse(
                CLIENT, first, USER, abi.encodeWithSelector(ISubscriptionEscrow.NoSubscription.selector, node, CLIENT)
            );
            // Nothing stored: the views answer "nothing" whatever record is passed.
            assertEq(escrow.status(node, CLIENT, first).expiresAt, 0, "status of an empty key");
            assertEq(
                uint256(escrow.renewalCheck(node, CLIENT, first)),
                uint256(ISubscriptionEscrow.RenewalBlocker.NoSubscription),
                "renewalCheck of an empty key"
            );
        }
        assertEq(_fingerprint(), before, "refused calls change nothing");
        _assertKept(node, CLIENT, "key after the change");
        _assertKept(node, CLIENT2, "other key");

        // The current record in a stranger's hands: refused as not the owner.
        address clientId = what == 2 ? CLIENT2 : CLIENT;
        ISubscriptionEscrow.Subscription memory current = _rec(node, clientId);
        if (current.owner != address(0)) {
            vm.expectRevert(
                abi.encodeWithSelector(ISubscriptionEscrow.NotSubscriptionOwner.selector, node, clientId, USER2, USER)
            );
            vm.prank(USER2);
            escrow.cancel(node, clientId, current);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Reusing a lapsed key
    // ------------------------------------------------------------------------------------------

    /// A running key cannot be bought over; from its expiry on (exactly at it included) a new
    /// purchase overwrites the commitment, by the old owner or another payer with the key's
    /// consent. The lapsed segment stays in its expiry bucket and goes to the provider exactly:
    /// the node's earnings grow by its paid amount once its expiry day is processed, whether that
    /// happens before or after the overwrite, and a withdrawal right after the overwrite pays
    /// exactly that. The old record is refused afterwards; the new one splits exactly.
    function testFuzz_subscribeOverLapsedKey(uint256 price1, uint256 m1, uint256 gap, uint256 cancelAfter, uint256 seed)
        public
    {
        _setPrice(bound(price1, 0, MAX_PRICE));
        uint256 paid1 = _buy(USER, node, CLIENT, bound(m1, 1, 24));
        ISubscriptionEscrow.Subscription memory old = _rec(node, CLIENT);
        // The second purchase: its price, months, payer (the old owner or another with the key's
        // consent) and whether the lapsed day is processed before the overwrite.
        _setPrice(bound(seed, 0, MAX_PRICE));
        uint256 m2 = bound(seed >> 128, 1, 24);
        address payer = (seed >> 250) & 1 == 0 ? USER : USER2;
        bool processFirst = (seed >> 251) & 1 == 0;

        // Before its expiry the key is taken.
        vm.warp(old.expiresAt - 1);
        _expectTaken(payer, m2, old.expiresAt);
        // A second before the expiry the node still holds at least a wei of a paid segment.
        if (paid1 != 0) assertLe(escrow.nodeEarnings(node).earned + 1, paid1, "not all released before the expiry");

        // From the expiry on: the lapsed segment is all released (the view folds its day in).
        uint256 t = old.expiresAt + bound(gap, 0, 400 days);
        vm.warp(t);
        assertEq(escrow.nodeEarnings(node).earned, paid1, "the lapsed segment is released whole");
        assertEq(escrow.nodeEarnings(node).unreleased, 0, "nothing unreleased");
        if (processFirst) escrow.processExpiries(node, type(uint256).max);

        uint256 paid2 = _buy(payer, node, CLIENT, m2);
        ISubscriptionEscrow.Subscription memory sub = _rec(node, CLIENT);
        _assertKept(node, CLIENT, "the new record overwrote the lapsed one");
        assertFalse(escrow.isCurrent(node, CLIENT, old), "the lapsed record is not current");
        assertEq(sub.owner, payer, "new owner");
        assertEq(sub.start, t, "new start");
        assertEq(sub.paid, paid2, "new paid");
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(e.earned, paid1, "earned = the lapsed segment (the new one has not started)");
        assertEq(e.unreleased, paid2, "unreleased = the new purchase");
        assertEq(token.balanceOf(address(escrow)), paid1 + paid2, "escrow holds both");

        // The provider withdraws the lapsed segment exactly: its day is processed in storage
        // now if it was not before.
        if (paid1 != 0) {
            vm.prank(PROVIDER);
            assertEq(escrow.withdraw(node), paid1, "withdrawal = the lapsed segment");
        }
        assertEq(token.balanceOf(PAYOUT), paid1, "payout");

        _mint(payer, 1e18);
        _approveEscrow(payer, 1e18);
        _expectAllRefuse(CLIENT, old, payer, _mismatch(CLIENT));

        // The new subscription splits exactly between refund and provider.
        vm.warp(t + bound(cancelAfter, 0, sub.expiresAt - t - 1));
        uint256 refund = _cancel(node, CLIENT);
        e = escrow.nodeEarnings(node);
        assertEq(e.unreleased, 0, "nothing unreleased after the cancel");
        assertEq(refund + e.earned, paid1 + paid2, "refund + earned == paid");
        if (e.withdrawable != 0) {
            vm.prank(PROVIDER);
            escrow.withdraw(node);
        }
        assertEq(token.balanceOf(PAYOUT) + refund, paid1 + paid2, "payout + refund == paid");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    function _expectTaken(address payer, uint256 months, uint256 expiresAt) internal {
        uint256 price = _price(node);
        _mint(payer, price * months);
        _approveEscrow(payer, price * months);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(node, CLIENT, payer);
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptionEscrow.SubscriptionIsActive.selector, node, CLIENT, expiresAt)
        );
        vm.prank(payer);
        escrow.subscribe(node, CLIENT, months, price, 10_000, consent);
    }

    /// Several lapsed segments of different keys on different days, overwritten in any order: each
    /// one's paid amount reaches the provider exactly once.
    function testFuzz_overwritingLapsedKeysReleasesEachOnce(uint256 seed, uint256 gap) public {
        address[2] memory clients = [CLIENT, CLIENT2];
        address[2] memory payers = [USER, USER2];
        uint256 paidLapsed;
        for (uint256 i = 0; i < 2; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            _setPrice(bound(r, 0, 1e24));
            paidLapsed += _buy(payers[i], node, clients[i], bound(r >> 128, 1, 3));
            vm.warp(block.timestamp + bound(r >> 64, 0, 5 days));
        }
        uint256 lastExpiry = _rec(node, CLIENT).expiresAt > _rec(node, CLIENT2).expiresAt
            ? _rec(node, CLIENT).expiresAt
            : _rec(node, CLIENT2).expiresAt;
        vm.warp(lastExpiry + bound(gap, 0, 30 days));
        _setPrice(1e18);
        uint256 paidNew = _buy(USER2, node, CLIENT, 1) + _buy(USER, node, CLIENT2, 2);
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(e.earned, paidLapsed, "earned = the lapsed segments, once");
        assertEq(e.unreleased, paidNew, "unreleased = the new purchases");
        vm.warp(block.timestamp + 200 days);
        e = escrow.nodeEarnings(node);
        assertEq(e.earned, paidLapsed + paidNew, "everything once all ended");
        vm.prank(PROVIDER);
        escrow.withdraw(node);
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
        assertEq(token.balanceOf(PAYOUT), paidLapsed + paidNew, "payout = everything paid");
    }
}
