// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TestBase} from "./TestBase.sol";
import {Secp256k1} from "./Secp256k1.sol";
import {MailServerRegistry} from "../../../contracts/MailServerRegistry.sol";
import {SubscriptionEscrow} from "../../../contracts/SubscriptionEscrow.sol";
import {ISubscriptionEscrow} from "../../../contracts/interfaces/ISubscriptionEscrow.sol";
import {TestToken} from "../../../contracts/test/TestToken.sol";

/// @dev A registry (this contract is its admin and curator), a plain ERC-20 and an escrow, with
/// helpers to add providers, add nodes with real node-key proofs, and buy subscriptions.
abstract contract EscrowSetup is TestBase {
    uint256 internal constant MONTH = 30 days;
    uint256 internal constant MAX_PREPAID = 48 * MONTH;
    /// @dev The escrow's release-rate scale (rates are `paid * PRECISION / segment length`, floored).
    uint256 internal constant PRECISION = 1 << 32;

    MailServerRegistry internal registry;
    TestToken internal token;
    SubscriptionEscrow internal escrow;
    bytes32 internal kind;
    /// @dev Private keys of the client ids made by {_clientOf}, to sign their consents.
    mapping(address clientId => uint256 privateKey) internal _clientKeys;

    function _deploy() internal {
        registry = new MailServerRegistry(0, address(this));
        kind = registry.MAILSERVER_KIND();
        registry.setKindEnabled(kind, true);
        token = new TestToken();
        escrow = new SubscriptionEscrow(address(registry), address(token));
    }

    function _addProvider(address provider, address payout) internal {
        registry.addProvider(provider, "Provider", "", payout);
    }

    /// @dev A node with a real key: its id is keccak256 of the public key, its proof by that key.
    function _addNode(address provider, uint256 keySeed, uint96 price) internal returns (bytes32 nodeId) {
        uint256 pk = boundPrivateKey(keySeed);
        bytes memory publicKey = Secp256k1.publicKey(pk);
        nodeId = keccak256(publicKey);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, registry.nodeKeyProofDigest(provider, nodeId, kind, deadline));
        vm.prank(provider);
        registry.addNode(publicKey, kind, "enr:-test", price, deadline, abi.encodePacked(r, s, v));
    }

    /// @dev A client id whose key this test holds (so it can sign consents).
    function _clientOf(uint256 privateKey) internal returns (address clientId) {
        clientId = vm.addr(privateKey);
        _clientKeys[clientId] = privateKey;
    }

    /// @dev The client key's consent to `owner` holding its subscription to `nodeId`.
    function _consent(bytes32 nodeId, address clientId, address owner)
        internal
        view
        returns (ISubscriptionEscrow.ClientConsent memory consent)
    {
        if (clientId == owner) return consent;
        uint256 pk = _clientKeys[clientId];
        require(pk != 0, "client key unknown");
        consent.deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, escrow.clientConsentDigest(nodeId, owner, consent.deadline));
        consent.signature = abi.encodePacked(r, s, v);
    }

    /// @dev The next UTC midnight at or after `t` (every expiry falls on one).
    function _endOfDay(uint256 t) internal pure returns (uint256) {
        return ((t + 1 days - 1) / 1 days) * 1 days;
    }

    function _price(bytes32 nodeId) internal view returns (uint256) {
        return registry.getNode(nodeId).pricePerMonth;
    }

    /// @dev Mint, approve and subscribe at the node's current price; returns what was paid.
    function _buy(address payer, bytes32 nodeId, address clientId, uint256 months) internal returns (uint256 amount) {
        amount = _price(nodeId) * months;
        uint256 price = _price(nodeId);
        token.mint(payer, amount);
        vm.prank(payer);
        token.approve(address(escrow), amount);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(nodeId, clientId, payer);
        vm.prank(payer);
        escrow.subscribe(nodeId, clientId, months, price, 10_000, consent);
    }

    /// @dev Cancel as the owner; returns what the owner got back.
    function _cancel(bytes32 nodeId, address clientId) internal returns (uint256 refund) {
        address owner = escrow.getSubscription(nodeId, clientId).owner;
        uint256 before = token.balanceOf(owner);
        vm.prank(owner);
        escrow.cancel(nodeId, clientId);
        refund = token.balanceOf(owner) - before;
    }

    function _status(bytes32 nodeId, address clientId)
        internal
        view
        returns (ISubscriptionEscrow.SubscriptionStatus memory)
    {
        return escrow.status(nodeId, clientId);
    }

    /// @dev The escrow's months-left rule, written independently: a month counts once more than
    /// a day of it is left; anything active shows at least one.
    function _monthsLeft(uint256 remaining) internal pure returns (uint256) {
        if (remaining <= 1 days) return 1;
        return (remaining - 1 days + MONTH - 1) / MONTH;
    }
}
