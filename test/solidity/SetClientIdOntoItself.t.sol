// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EscrowSetup} from "./utils/EscrowSetup.sol";
import {ISubscriptionEscrow} from "../../contracts/interfaces/ISubscriptionEscrow.sol";

/// Moving a subscription onto its own client id, running or lapsed, is refused and keeps the record.
contract SetClientIdOntoItselfTest is EscrowSetup {
    function testFuzz_moveOntoItselfIsRefusedAndKeepsTheRecord(uint256 months, uint256 lapsedFor, bool lapsed) public {
        vm.warp(1_700_000_000);
        _deploy();
        _addProvider(address(0xB0B), address(0xBEEF));
        bytes32 node = _addNode(address(0xB0B), 1, 1e18);
        address client = _clientOf(0xC1);
        _buy(address(0xA11CE), node, client, bound(months, 1, 24));
        ISubscriptionEscrow.Subscription memory sub = _rec(node, client);
        if (lapsed) vm.warp(sub.expiresAt + bound(lapsedFor, 0, 400 days));
        ISubscriptionEscrow.ClientConsent memory consent = _consent(node, client, sub.owner);
        uint256 before = escrow.subscriptionCommitment(node, client);

        vm.prank(sub.owner);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptionEscrow.ClientIdTaken.selector, node, client));
        escrow.setClientId(node, client, sub, client, consent);

        assertEq(escrow.subscriptionCommitment(node, client), before, "commitment unchanged");
        assertTrue(escrow.isCurrent(node, client, sub), "the record is still stored");
    }
}
