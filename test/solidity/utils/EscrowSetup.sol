// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TestBase} from "./TestBase.sol";
import {Vm} from "./Vm.sol";
import {Records} from "./Records.sol";
import {Secp256k1} from "./Secp256k1.sol";
import {MailServerRegistry} from "../../../contracts/MailServerRegistry.sol";
import {SubscriptionEscrow} from "../../../contracts/SubscriptionEscrow.sol";
import {ISubscriptionEscrow} from "../../../contracts/interfaces/ISubscriptionEscrow.sol";
import {TestToken} from "../../../contracts/test/TestToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MiniMeBytecode} from "./MiniMeBytecode.sol";

/// @dev The MiniMe functions the tests use beyond ERC-20.
interface IMiniMe {
    function generateTokens(address owner, uint256 amount) external returns (bool);
    function changeController(address newController) external;
    function approveAndCall(address spender, uint256 amount, bytes calldata extraData) external returns (bool);
}

/// @dev A registry (this contract is its admin and curator), a plain ERC-20 and an escrow, with
/// helpers to add providers, add nodes with real node-key proofs, and buy subscriptions.
abstract contract EscrowSetup is TestBase {
    uint256 internal constant MONTH = 30 days;
    uint256 internal constant MAX_PREPAID = 48 * MONTH;
    /// @dev The escrow's release-rate scale (rates are `paid * PRECISION / segment length`, floored).
    uint256 internal constant PRECISION = 1 << 32;

    MailServerRegistry internal registry;
    /// @dev A plain ERC-20 (TestToken) or the real MiniMe bytecode (see {_deployWith}).
    IERC20 internal token;
    bool internal miniMe;
    /// @dev MiniMe calls its controller back on every transfer when the controller is a
    /// contract; an account without code keeps it a plain token, as SNT's controller is today.
    address internal constant MINIME_CONTROLLER = address(0xC0C0);
    SubscriptionEscrow internal escrow;
    bytes32 internal kind;
    /// @dev Private keys of the client ids made by {_clientOf}, to sign their consents.
    mapping(address clientId => uint256 privateKey) internal _clientKeys;
    /// @dev The current record of each key, see {_rec}.
    mapping(bytes32 key => ISubscriptionEscrow.Subscription) internal _records;
    /// @dev The current record of each key as an indexer learns it from the escrow's events
    /// alone, see {_index}.
    mapping(bytes32 key => ISubscriptionEscrow.Subscription) internal _indexed;

    function _deploy() internal {
        _deployWith(false);
    }

    /// @param useMiniMe Pay in the real MiniMe token (solc 0.4.18 bytecode from the npm package).
    function _deployWith(bool useMiniMe) internal {
        registry = new MailServerRegistry(0, address(this));
        kind = registry.MAILSERVER_KIND();
        registry.setKindEnabled(kind, true);
        miniMe = useMiniMe;
        token = useMiniMe ? IERC20(_deployMiniMe()) : IERC20(address(new TestToken()));
        escrow = new SubscriptionEscrow(address(registry), address(token));
    }

    function _deployMiniMe() internal returns (address deployed) {
        bytes memory init = abi.encodePacked(
            MiniMeBytecode.CREATION_CODE,
            abi.encode(address(0), address(0), uint256(0), "Status Network Token", uint8(18), "SNT", true)
        );
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            deployed := create(0, add(init, 0x20), mload(init))
        }
        require(deployed != address(0), "MiniMe deployment failed");
        IMiniMe(deployed).changeController(MINIME_CONTROLLER);
    }

    function _mint(address to, uint256 amount) internal {
        if (miniMe) {
            vm.prank(MINIME_CONTROLLER);
            IMiniMe(address(token)).generateTokens(to, amount);
        } else {
            TestToken(address(token)).mint(to, amount);
        }
    }

    /// @dev Set `owner`'s allowance to the escrow to `amount`, through zero (MiniMe's rule).
    function _approveEscrow(address owner, uint256 amount) internal {
        vm.prank(owner);
        token.approve(address(escrow), 0);
        vm.prank(owner);
        token.approve(address(escrow), amount);
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

    // ------------------------------------------------------------------------------------------
    // Records: the escrow stores only a commitment, so the tests keep each key's current record
    // (from the functions' return values, as a client keeps it from the events) and pass it back.
    // ------------------------------------------------------------------------------------------

    function _keyOf(bytes32 nodeId, address clientId) internal pure returns (bytes32) {
        return keccak256(abi.encode(nodeId, clientId));
    }

    /// @dev The current record of (nodeId, clientId) as this test knows it (empty: none).
    function _rec(bytes32 nodeId, address clientId)
        internal
        view
        virtual
        returns (ISubscriptionEscrow.Subscription memory)
    {
        return _records[_keyOf(nodeId, clientId)];
    }

    function _keep(bytes32 nodeId, address clientId, ISubscriptionEscrow.Subscription memory sub) internal virtual {
        _records[_keyOf(nodeId, clientId)] = sub;
    }

    function _forget(bytes32 nodeId, address clientId) internal virtual {
        delete _records[_keyOf(nodeId, clientId)];
    }

    /// @dev The commitment the escrow must store for `sub` (computed independently, see {Records}).
    function _commitmentOf(ISubscriptionEscrow.Subscription memory sub) internal pure returns (uint256) {
        return Records.commitment(sub);
    }

    function _expiryOf(bytes32 nodeId, address clientId) internal view returns (uint256) {
        bytes32[] memory nodeIds = new bytes32[](1);
        address[] memory clientIds = new address[](1);
        (nodeIds[0], clientIds[0]) = (nodeId, clientId);
        return escrow.expiries(nodeIds, clientIds)[0];
    }

    /// @dev The kept record is the one stored (commitment, isCurrent, expiries agree), or
    /// nothing is stored and nothing is kept.
    function _assertKept(bytes32 nodeId, address clientId, string memory what) internal view {
        ISubscriptionEscrow.Subscription memory sub = _rec(nodeId, clientId);
        uint256 stored = escrow.subscriptionCommitment(nodeId, clientId);
        if (sub.owner == address(0)) {
            assertEq(stored, 0, string.concat(what, ": nothing stored"));
            assertFalse(escrow.isCurrent(nodeId, clientId, sub), string.concat(what, ": empty record not current"));
        } else {
            assertEq(stored, _commitmentOf(sub), string.concat(what, ": commitment of the kept record"));
            assertTrue(escrow.isCurrent(nodeId, clientId, sub), string.concat(what, ": kept record is current"));
        }
        assertEq(_expiryOf(nodeId, clientId), sub.expiresAt, string.concat(what, ": expiries"));
    }

    /// @dev The record carried by the last Subscribed, Extended, AutoRenewSet or ClientIdChanged
    /// event of the escrow among `logs` (from vm.getRecordedLogs), as a client learns it.
    function _recordFromLogs(Vm.Log[] memory logs)
        internal
        view
        returns (bool found, ISubscriptionEscrow.Subscription memory sub)
    {
        for (uint256 i = logs.length; i > 0; --i) {
            Vm.Log memory log = logs[i - 1];
            if (log.emitter != address(escrow) || log.topics.length == 0) continue;
            bytes32 topic = log.topics[0];
            if (topic == ISubscriptionEscrow.Subscribed.selector) {
                (,, sub) = abi.decode(log.data, (uint256, uint256, ISubscriptionEscrow.Subscription));
            } else if (topic == ISubscriptionEscrow.Extended.selector) {
                (,,, sub) = abi.decode(log.data, (uint256, uint256, uint256, ISubscriptionEscrow.Subscription));
            } else if (
                topic == ISubscriptionEscrow.AutoRenewSet.selector
                    || topic == ISubscriptionEscrow.ClientIdChanged.selector
            ) {
                sub = abi.decode(log.data, (ISubscriptionEscrow.Subscription));
            } else {
                continue;
            }
            return (true, sub);
        }
    }

    /// @dev Folds the escrow's events among `logs` into {_indexed} by the rule an indexer follows:
    /// a key's record is the `subscription` of its last Subscribed, Extended or AutoRenewSet, or
    /// of a ClientIdChanged onto it, unless a later Cancelled or ClientIdChanged away removed it.
    function _index(Vm.Log[] memory logs) internal {
        for (uint256 i = 0; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(escrow) || log.topics.length < 3) continue;
            bytes32 topic = log.topics[0];
            bytes32 nodeId = log.topics[1];
            address clientId = address(uint160(uint256(log.topics[2])));
            if (topic == ISubscriptionEscrow.Subscribed.selector) {
                (,, _indexed[_keyOf(nodeId, clientId)]) =
                    abi.decode(log.data, (uint256, uint256, ISubscriptionEscrow.Subscription));
            } else if (topic == ISubscriptionEscrow.Extended.selector) {
                (,,, _indexed[_keyOf(nodeId, clientId)]) =
                    abi.decode(log.data, (uint256, uint256, uint256, ISubscriptionEscrow.Subscription));
            } else if (topic == ISubscriptionEscrow.AutoRenewSet.selector) {
                _indexed[_keyOf(nodeId, clientId)] = abi.decode(log.data, (ISubscriptionEscrow.Subscription));
            } else if (topic == ISubscriptionEscrow.ClientIdChanged.selector) {
                address newClientId = address(uint160(uint256(log.topics[3])));
                delete _indexed[_keyOf(nodeId, clientId)];
                _indexed[_keyOf(nodeId, newClientId)] = abi.decode(log.data, (ISubscriptionEscrow.Subscription));
            } else if (topic == ISubscriptionEscrow.Cancelled.selector) {
                delete _indexed[_keyOf(nodeId, clientId)];
            }
        }
    }

    /// @dev The indexed record agrees with the kept one (both empty, or the same commitment).
    function _indexAgrees(bytes32 nodeId, address clientId) internal view returns (bool) {
        ISubscriptionEscrow.Subscription memory fromEvents = _indexed[_keyOf(nodeId, clientId)];
        ISubscriptionEscrow.Subscription memory kept = _rec(nodeId, clientId);
        if (fromEvents.owner == address(0) || kept.owner == address(0)) return fromEvents.owner == kept.owner;
        return Records.commitment(fromEvents) == Records.commitment(kept);
    }

    /// @dev Mint, approve and subscribe at the node's current price; returns what was paid and
    /// keeps the record returned.
    function _buy(address payer, bytes32 nodeId, address clientId, uint256 months) internal returns (uint256 amount) {
        amount = _price(nodeId) * months;
        uint256 price = _price(nodeId);
        _mint(payer, amount);
        _approveEscrow(payer, amount);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(nodeId, clientId, payer);
        vm.prank(payer);
        _keep(nodeId, clientId, escrow.subscribe(nodeId, clientId, months, price, 10_000, consent));
    }

    /// @dev Extend as the owner at the node's current price; returns what was paid and keeps the
    /// record returned.
    function _extendBy(bytes32 nodeId, address clientId, uint256 months) internal returns (uint256 amount) {
        ISubscriptionEscrow.Subscription memory sub = _rec(nodeId, clientId);
        uint256 price = _price(nodeId);
        amount = price * months;
        _mint(sub.owner, amount);
        _approveEscrow(sub.owner, amount);
        vm.prank(sub.owner);
        _keep(nodeId, clientId, escrow.extend(nodeId, clientId, sub, months, price));
    }

    /// @dev Move as the owner, with the new key's consent; the record moves unchanged.
    function _move(bytes32 nodeId, address clientId, address newClientId) internal {
        ISubscriptionEscrow.Subscription memory sub = _rec(nodeId, clientId);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(nodeId, newClientId, sub.owner);
        vm.prank(sub.owner);
        escrow.setClientId(nodeId, clientId, sub, newClientId, consent);
        _keep(nodeId, newClientId, sub);
        _forget(nodeId, clientId);
    }

    /// @dev Cancel as the owner; returns what the owner got back.
    function _cancel(bytes32 nodeId, address clientId) internal returns (uint256 refund) {
        ISubscriptionEscrow.Subscription memory sub = _rec(nodeId, clientId);
        address owner = sub.owner;
        uint256 before = token.balanceOf(owner);
        vm.prank(owner);
        escrow.cancel(nodeId, clientId, sub);
        _forget(nodeId, clientId);
        refund = token.balanceOf(owner) - before;
    }

    function _status(bytes32 nodeId, address clientId)
        internal
        view
        returns (ISubscriptionEscrow.SubscriptionStatus memory)
    {
        return escrow.status(nodeId, clientId, _rec(nodeId, clientId));
    }

    /// @dev The escrow's months-left rule, written independently: a month counts once more than
    /// a day of it is left; anything active shows at least one.
    function _monthsLeft(uint256 remaining) internal pure returns (uint256) {
        if (remaining <= 1 days) return 1;
        return (remaining - 1 days + MONTH - 1) / MONTH;
    }
}
