// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EscrowSetup, IMiniMe} from "./utils/EscrowSetup.sol";
import {Records} from "./utils/Records.sol";
import {ISubscriptionEscrow} from "../../contracts/interfaces/ISubscriptionEscrow.sol";

/// @dev The escrow's money paths with the real MiniMe token (solc 0.4.18 bytecode): its
/// transferFrom returns false instead of reverting, approve goes through zero, and every
/// transfer writes balance checkpoints.
contract EscrowMiniMeTest is EscrowSetup {
    address internal constant PROVIDER = address(0xB0B);
    address internal constant PAYOUT = address(0xBEEF);
    address internal constant USER = address(0xA11CE);
    address internal constant STRANGER = address(0x5757);
    address internal immutable CLIENT = _clientOf(0xC1);

    bytes32 internal node;

    function setUp() public {
        vm.warp(1_700_000_000);
        _deployWith(true);
        _addProvider(PROVIDER, PAYOUT);
        node = _addNode(PROVIDER, 1, 1e18);
    }

    /// Buy, cancel part-way, withdraw: refund + earnings == paid and the escrow ends empty.
    function testFuzz_buyCancelWithdraw(uint256 months, uint256 elapsed) public {
        months = bound(months, 1, 24);
        uint256 paid = _buy(USER, node, CLIENT, months);
        assertEq(token.balanceOf(address(escrow)), paid, "escrow holds the payment");
        assertEq(token.allowance(USER, address(escrow)), 0, "no allowance left");
        vm.warp(block.timestamp + bound(elapsed, 0, months * MONTH - 1));
        uint256 refund = _cancel(node, CLIENT);
        vm.prank(PROVIDER);
        uint256 earned = escrow.withdraw(node);
        assertEq(refund + earned, paid, "refund + earned == paid");
        assertEq(token.balanceOf(PAYOUT), earned, "payout paid");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    /// MiniMe's transferFrom returns false without an allowance: the purchase reverts with
    /// TokenTransferFailed and changes nothing.
    function test_missingAllowanceIsRefused() public {
        _mint(USER, 1e18);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(node, CLIENT, USER);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISubscriptionEscrow.TokenTransferFailed.selector, address(token), USER, address(escrow), 1e18
            )
        );
        vm.prank(USER);
        escrow.subscribe(node, CLIENT, 1, 1e18, 10_000, consent);
        assertEq(token.balanceOf(USER), 1e18, "nothing taken");
    }

    // ------------------------------------------------------------------------------------------
    // approveAndCall: one transaction to subscribe or extend
    // ------------------------------------------------------------------------------------------

    function _subscribeData(address payer, uint256 months) internal view returns (bytes memory) {
        return abi.encode(
            ISubscriptionEscrow.ApprovalRequest(
                uint8(ISubscriptionEscrow.ApprovalAction.Subscribe),
                node,
                CLIENT,
                months,
                _price(node),
                10_000,
                _consent(node, CLIENT, payer)
            )
        );
    }

    /// @dev `abi.encode(ExtensionRequest)` carrying `sub` as the current record.
    function _extendData(ISubscriptionEscrow.Subscription memory sub, uint256 months)
        internal
        view
        returns (bytes memory)
    {
        return abi.encode(
            ISubscriptionEscrow.ExtensionRequest(
                uint8(ISubscriptionEscrow.ApprovalAction.Extend), node, CLIENT, months, _price(node), sub
            )
        );
    }

    /// @dev MiniMe's approveAndCall from `from` for `amount`; returns the record the escrow's
    /// event carries (approveAndCall itself returns only a bool).
    function _approveAndCall(address from, uint256 amount, bytes memory data)
        internal
        returns (ISubscriptionEscrow.Subscription memory sub)
    {
        _mint(from, amount);
        vm.recordLogs();
        vm.prank(from);
        assertTrue(IMiniMe(address(token)).approveAndCall(address(escrow), amount, data), "approveAndCall");
        bool found;
        (found, sub) = _recordFromLogs(vm.getRecordedLogs());
        assertTrue(found, "the event carries the record");
        assertEq(token.allowance(from, address(escrow)), 0, "no allowance left");
    }

    /// Subscribe with an ApprovalRequest, then extend (running or lapsed) with an
    /// ExtensionRequest built from the record the Subscribed event carried: each in one
    /// transaction with the real MiniMe, each record from the events is the stored one, the
    /// expiry moves by whole months (from now once lapsed), and a cancel later splits exactly.
    function testFuzz_approveAndCallSubscribeThenExtend(uint256 months, uint256 more, uint256 gap, uint256 elapsed)
        public
    {
        months = bound(months, 1, 24);
        more = bound(more, 1, 24);
        uint256 paid1 = _price(node) * months;
        ISubscriptionEscrow.Subscription memory sub = _approveAndCall(USER, paid1, _subscribeData(USER, months));
        _keep(node, CLIENT, sub);
        _assertKept(node, CLIENT, "after the approveAndCall purchase");
        assertEq(sub.owner, USER, "owner");
        assertEq(sub.paid, paid1, "paid");
        assertEq(token.balanceOf(address(escrow)), paid1, "escrow holds the payment");

        vm.warp(block.timestamp + bound(gap, 0, months * MONTH + 30 days));
        uint256 t = block.timestamp;
        bytes memory data = _extendData(sub, more);
        assertEq(data.length, 12 * 32, "an ExtensionRequest is 12 static words");
        assertEq(uint256(bytes32(data)), 1, "its first word is the action");
        uint256 paid2 = _price(node) * more;
        sub = _approveAndCall(USER, paid2, data);
        uint256 expected = t < _rec(node, CLIENT).expiresAt
            ? _rec(node, CLIENT).expiresAt + more * MONTH
            : _endOfDay(t + more * MONTH);
        _keep(node, CLIENT, sub);
        _assertKept(node, CLIENT, "after the approveAndCall extension");
        assertEq(sub.expiresAt, expected, "extended by whole months");
        assertEq(sub.start, t, "new segment starts now");
        assertEq(token.balanceOf(address(escrow)), paid1 + paid2, "escrow holds both payments");

        vm.warp(t + bound(elapsed, 0, sub.expiresAt - t - 1));
        uint256 refund = _cancel(node, CLIENT);
        ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(node);
        assertEq(e.unreleased, 0, "nothing unreleased");
        assertEq(refund + e.earned, paid1 + paid2, "refund + earned == paid");
        vm.prank(PROVIDER);
        escrow.withdraw(node);
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty");
    }

    /// An ExtensionRequest with a stale record (the one before the last extension) or a forged
    /// one (any field changed) is refused: MiniMe's approveAndCall reverts without the escrow's
    /// reason and nothing changes, no allowance is left; the escrow's reason, seen by calling
    /// receiveApproval as the token, is SubscriptionRecordMismatch. The current record in a
    /// stranger's request is refused as not the owner. The current record by the owner works.
    function testFuzz_approveAndCallExtensionWithWrongRecord(uint256 field, uint256 delta, bool stale) public {
        _buy(USER, node, CLIENT, 2);
        ISubscriptionEscrow.Subscription memory first = _rec(node, CLIENT);
        vm.warp(block.timestamp + 10 days);
        ISubscriptionEscrow.Subscription memory current = _approveAndCall(USER, 1e18, _extendData(first, 1));
        _keep(node, CLIENT, current);
        _assertKept(node, CLIENT, "after the first extension");

        ISubscriptionEscrow.Subscription memory bad = stale ? first : Records.forged(current, field, delta);
        _mint(USER, 1e18);
        uint256 balance = token.balanceOf(USER);
        uint256 held = token.balanceOf(address(escrow));
        uint256 stored = escrow.subscriptionCommitment(node, CLIENT);
        bytes memory badData = _extendData(bad, 1);
        vm.expectRevert(); // MiniMe (solc 0.4.18) does not forward the callee's revert data
        vm.prank(USER);
        IMiniMe(address(token)).approveAndCall(address(escrow), 1e18, badData);
        assertEq(token.balanceOf(USER), balance, "nothing taken");
        assertEq(token.balanceOf(address(escrow)), held, "escrow unchanged");
        assertEq(token.allowance(USER, address(escrow)), 0, "the approval was undone too");
        assertEq(escrow.subscriptionCommitment(node, CLIENT), stored, "record unchanged");

        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptionEscrow.SubscriptionRecordMismatch.selector, node, CLIENT)
        );
        vm.prank(address(token));
        escrow.receiveApproval(USER, 1e18, address(token), badData);

        bytes memory currentData = _extendData(current, 1);
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptionEscrow.NotSubscriptionOwner.selector, node, CLIENT, STRANGER, USER)
        );
        vm.prank(address(token));
        escrow.receiveApproval(STRANGER, 1e18, address(token), currentData);

        current = _approveAndCall(USER, 1e18, _extendData(current, 1));
        _keep(node, CLIENT, current);
        _assertKept(node, CLIENT, "the current record extends");
    }

    /// Data that is neither request (a first word other than 0x20 or 1, or too short for the
    /// request it announces) is refused with InvalidApprovalData.
    function testFuzz_invalidApprovalData(uint256 head, uint256 cut) public {
        _buy(USER, node, CLIENT, 1);
        bytes memory ext = _extendData(_rec(node, CLIENT), 1);
        vm.assume(head != 0x20 && head != 1);
        bytes memory wrongHead = abi.encodePacked(head, new bytes(11 * 32));
        vm.expectRevert(ISubscriptionEscrow.InvalidApprovalData.selector);
        vm.prank(address(token));
        escrow.receiveApproval(USER, 1e18, address(token), wrongHead);

        bytes memory short = new bytes(bound(cut, 0, ext.length - 1));
        for (uint256 i = 0; i < short.length; ++i) short[i] = ext[i];
        vm.expectRevert(ISubscriptionEscrow.InvalidApprovalData.selector);
        vm.prank(address(token));
        escrow.receiveApproval(USER, 1e18, address(token), short);
    }
}
