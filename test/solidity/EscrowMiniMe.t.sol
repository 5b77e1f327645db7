// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EscrowSetup} from "./utils/EscrowSetup.sol";
import {ISubscriptionEscrow} from "../../contracts/interfaces/ISubscriptionEscrow.sol";

/// @dev The escrow's money paths with the real MiniMe token (solc 0.4.18 bytecode): its
/// transferFrom returns false instead of reverting, approve goes through zero, and every
/// transfer writes balance checkpoints.
contract EscrowMiniMeTest is EscrowSetup {
    address internal constant PROVIDER = address(0xB0B);
    address internal constant PAYOUT = address(0xBEEF);
    address internal constant USER = address(0xA11CE);
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
}
