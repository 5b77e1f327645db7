// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TestBase} from "./utils/TestBase.sol";
import {Secp256k1} from "./utils/Secp256k1.sol";
import {MailServerRegistry} from "../../contracts/MailServerRegistry.sol";
import {IMailServerRegistry} from "../../contracts/interfaces/IMailServerRegistry.sol";

/// @dev Drives the registry through random sequences of provider, kind and node operations while
/// keeping its own model (the "ghost" state) of what the registry should hold. Every call is
/// predicted from the model first; a call whose outcome (success or revert) differs from the
/// prediction, or a successful call that does not move `revision` by exactly one, is recorded in
/// `mismatch`. The handler is the registry's admin and curator; providers act through `vm.prank`.
contract RegistryHandler is TestBase {
    uint256 internal constant ACTORS = 4;
    uint256 internal constant KINDS = 3;

    MailServerRegistry public immutable registry;

    address[] internal _actors;
    bytes32[] internal _kinds;

    // Ghost state
    mapping(address => IMailServerRegistry.ProviderStatus) internal _providerStatus;
    mapping(bytes32 => bool) internal _kindEnabled;
    bytes32[] internal _nodeIds;
    mapping(bytes32 => IMailServerRegistry.NodeStatus) internal _nodeStatus;
    mapping(bytes32 => address) internal _nodeProvider;
    mapping(bytes32 => bytes32) internal _nodeKind;
    mapping(bytes32 => uint256) internal _nodeKey;
    /// @dev When a disabling of its kind retired the node (0: never).
    mapping(bytes32 => uint256) internal _nodeRetiredAt;
    uint256 internal _revision;
    string internal _mismatch;
    uint256 internal _calls;
    uint256 internal _successes;

    constructor() {
        registry = new MailServerRegistry(0, address(this));
        for (uint256 i = 0; i < ACTORS; ++i) {
            _actors.push(address(uint160(0x1000 + i)));
        }
        for (uint256 i = 0; i < KINDS; ++i) {
            _kinds.push(keccak256(abi.encode("kind", i)));
        }
        _kinds[0] = registry.MAILSERVER_KIND();

        // A starting point so that short sequences reach the interesting states: two kinds
        // enabled, two approved providers and one pending, three nodes.
        setKindEnabled(0, true);
        setKindEnabled(1, true);
        addProvider(0);
        addProvider(1);
        applyAsProvider(2);
        addNode(0, 0, 1);
        addNode(1, 1, 2);
        addNode(0, 1, 3);
    }

    // ------------------------------------------------------------------------------------------
    // Views for the invariants
    // ------------------------------------------------------------------------------------------

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function kinds() external view returns (bytes32[] memory) {
        return _kinds;
    }

    function nodeIds() external view returns (bytes32[] memory) {
        return _nodeIds;
    }

    function ghostProviderStatus(address provider) external view returns (IMailServerRegistry.ProviderStatus) {
        return _providerStatus[provider];
    }

    function ghostKindEnabled(bytes32 kind) external view returns (bool) {
        return _kindEnabled[kind];
    }

    function ghostRetiredAt(bytes32 nodeId) external view returns (uint256) {
        return _nodeRetiredAt[nodeId];
    }

    function _publicKey(uint256 pk) internal pure returns (bytes memory) {
        return Secp256k1.publicKey(pk);
    }

    function ghostNode(bytes32 nodeId)
        external
        view
        returns (IMailServerRegistry.NodeStatus status, address provider, bytes32 kind)
    {
        return (_nodeStatus[nodeId], _nodeProvider[nodeId], _nodeKind[nodeId]);
    }

    function ghostRevision() external view returns (uint256) {
        return _revision;
    }

    function mismatch() external view returns (string memory) {
        return _mismatch;
    }

    function stats() external view returns (uint256 calls, uint256 successes, uint256 nodes) {
        return (_calls, _successes, _nodeIds.length);
    }

    // ------------------------------------------------------------------------------------------
    // Provider actions
    // ------------------------------------------------------------------------------------------

    function applyAsProvider(uint256 actorSeed) public {
        address who = _actor(actorSeed);
        bool expected = _providerStatus[who] == IMailServerRegistry.ProviderStatus.None;
        vm.prank(who);
        try registry.applyAsProvider("provider", "", who) {
            _succeeded("applyAsProvider", expected);
            _providerStatus[who] = IMailServerRegistry.ProviderStatus.Pending;
        } catch {
            _failed("applyAsProvider", expected);
        }
    }

    function addProvider(uint256 actorSeed) public {
        address who = _actor(actorSeed);
        IMailServerRegistry.ProviderStatus s = _providerStatus[who];
        bool expected = s == IMailServerRegistry.ProviderStatus.None || s == IMailServerRegistry.ProviderStatus.Pending;
        try registry.addProvider(who, "provider", "", who) {
            _succeeded("addProvider", expected);
            _providerStatus[who] = IMailServerRegistry.ProviderStatus.Approved;
        } catch {
            _failed("addProvider", expected);
        }
    }

    function approveProvider(uint256 actorSeed) public {
        address who = _actor(actorSeed);
        bool expected = _providerStatus[who] == IMailServerRegistry.ProviderStatus.Pending;
        try registry.approveProvider(who) {
            _succeeded("approveProvider", expected);
            _providerStatus[who] = IMailServerRegistry.ProviderStatus.Approved;
        } catch {
            _failed("approveProvider", expected);
        }
    }

    function suspendProvider(uint256 actorSeed) public {
        address who = _actor(actorSeed);
        bool expected = _providerStatus[who] == IMailServerRegistry.ProviderStatus.Approved;
        try registry.suspendProvider(who, "") {
            _succeeded("suspendProvider", expected);
            _providerStatus[who] = IMailServerRegistry.ProviderStatus.Suspended;
        } catch {
            _failed("suspendProvider", expected);
        }
    }

    function reinstateProvider(uint256 actorSeed) public {
        address who = _actor(actorSeed);
        bool expected = _providerStatus[who] == IMailServerRegistry.ProviderStatus.Suspended;
        try registry.reinstateProvider(who) {
            _succeeded("reinstateProvider", expected);
            _providerStatus[who] = IMailServerRegistry.ProviderStatus.Approved;
        } catch {
            _failed("reinstateProvider", expected);
        }
    }

    function removeProvider(uint256 actorSeed) public {
        address who = _actor(actorSeed);
        IMailServerRegistry.ProviderStatus s = _providerStatus[who];
        bool expected = s != IMailServerRegistry.ProviderStatus.None && s != IMailServerRegistry.ProviderStatus.Removed;
        try registry.removeProvider(who, "") {
            _succeeded("removeProvider", expected);
            _providerStatus[who] = IMailServerRegistry.ProviderStatus.Removed;
        } catch {
            _failed("removeProvider", expected);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Kind actions
    // ------------------------------------------------------------------------------------------

    function setKindEnabled(uint256 kindSeed, bool enabled) public {
        bytes32 kind = _kind(kindSeed);
        bool expected = _kindEnabled[kind] != enabled;
        try registry.setKindEnabled(kind, enabled) {
            _succeeded("setKindEnabled", expected);
            _kindEnabled[kind] = enabled;
            for (uint256 i = 0; !enabled && i < _nodeIds.length; ++i) {
                bytes32 id = _nodeIds[i];
                if (_nodeKind[id] == kind && _nodeRetiredAt[id] == 0) _nodeRetiredAt[id] = block.timestamp;
            }
        } catch {
            _failed("setKindEnabled", expected);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Node actions
    // ------------------------------------------------------------------------------------------

    /// @dev Adds a node with a valid proof. One time in eight it reuses a known node id (with that
    /// node's key, so the proof is valid) to exercise the once-only rule.
    function addNode(uint256 actorSeed, uint256 kindSeed, uint256 keySeed) public {
        address who = _actor(actorSeed);
        bytes32 kind = _kind(kindSeed);
        uint256 pk;
        bytes32 nodeId;
        if (keySeed % 8 == 0 && _nodeIds.length > 0) {
            nodeId = _nodeIds[(keySeed >> 8) % _nodeIds.length];
            pk = _nodeKey[nodeId];
        } else {
            pk = boundPrivateKey(uint256(keccak256(abi.encode(keySeed, _nodeIds.length))));
            nodeId = keccak256(_publicKey(pk));
        }
        bytes memory publicKey = _publicKey(pk);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, registry.nodeKeyProofDigest(who, nodeId, kind, deadline));

        bool expected = _providerStatus[who] == IMailServerRegistry.ProviderStatus.Approved && _kindEnabled[kind]
            && _nodeStatus[nodeId] == IMailServerRegistry.NodeStatus.None;
        vm.prank(who);
        try registry.addNode(publicKey, kind, "enr:-record", 1 ether, deadline, abi.encodePacked(r, s, v)) {
            _succeeded("addNode", expected);
            _nodeIds.push(nodeId);
            _nodeStatus[nodeId] = IMailServerRegistry.NodeStatus.Active;
            _nodeProvider[nodeId] = who;
            _nodeKind[nodeId] = kind;
            _nodeKey[nodeId] = pk;
        } catch {
            _failed("addNode", expected);
        }
    }

    /// @dev The node's provider (de)activates it.
    function setNodeActive(uint256 nodeSeed, bool active) public {
        if (_nodeIds.length == 0) return;
        bytes32 nodeId = _nodeIds[nodeSeed % _nodeIds.length];
        IMailServerRegistry.NodeStatus s = _nodeStatus[nodeId];
        address provider = _nodeProvider[nodeId];
        bool expected = s != IMailServerRegistry.NodeStatus.Removed
            && _providerStatus[provider] != IMailServerRegistry.ProviderStatus.Removed
            && (s == IMailServerRegistry.NodeStatus.Active) != active;
        vm.prank(provider);
        try registry.setNodeActive(nodeId, active) {
            _succeeded("setNodeActive", expected);
            _nodeStatus[nodeId] = active ? IMailServerRegistry.NodeStatus.Active : IMailServerRegistry.NodeStatus.Inactive;
        } catch {
            _failed("setNodeActive", expected);
        }
    }

    /// @dev The node's provider, a curator (this handler) or a stranger removes a node.
    function removeNode(uint256 nodeSeed, uint8 callerSeed) public {
        if (_nodeIds.length == 0) return;
        bytes32 nodeId = _nodeIds[nodeSeed % _nodeIds.length];
        address provider = _nodeProvider[nodeId];
        uint256 choice = callerSeed % 3;
        address caller = choice == 0 ? provider : choice == 1 ? address(this) : _actor(uint256(callerSeed) >> 2);
        bool expected = _nodeStatus[nodeId] != IMailServerRegistry.NodeStatus.Removed
            && (caller == provider || caller == address(this));
        vm.prank(caller);
        try registry.removeNode(nodeId) {
            _succeeded("removeNode", expected);
            _nodeStatus[nodeId] = IMailServerRegistry.NodeStatus.Removed;
        } catch {
            _failed("removeNode", expected);
        }
    }

    function warp(uint32 seconds_) public {
        vm.warp(block.timestamp + seconds_);
    }

    // ------------------------------------------------------------------------------------------
    // Internal
    // ------------------------------------------------------------------------------------------

    function _actor(uint256 seed) internal view returns (address) {
        return _actors[seed % _actors.length];
    }

    function _kind(uint256 seed) internal view returns (bytes32) {
        return _kinds[seed % _kinds.length];
    }

    function _succeeded(string memory action, bool expected) internal {
        ++_calls;
        ++_successes;
        if (!expected) _record(string.concat(action, " succeeded but the model expected a revert"));
        uint256 current = registry.revision();
        if (current != _revision + 1) _record(string.concat(action, " did not move the revision by one"));
        _revision = current;
    }

    function _failed(string memory action, bool expected) internal {
        ++_calls;
        if (expected) _record(string.concat(action, " reverted but the model expected success"));
        if (registry.revision() != _revision) _record(string.concat(action, " reverted yet moved the revision"));
    }

    function _record(string memory what) internal {
        if (bytes(_mismatch).length == 0) _mismatch = what;
    }
}

contract RegistryInvariantTest is TestBase {
    RegistryHandler internal handler;
    MailServerRegistry internal registry;

    function setUp() public {
        handler = new RegistryHandler();
        registry = handler.registry();
        targetContract(address(handler));
    }

    /// Every call did what the model predicted, and moved the revision by exactly one on success.
    function invariant_modelPredictsEveryCall() public view {
        string memory what = handler.mismatch();
        assertEq(bytes(what).length, 0, what);
    }

    /// The revision never decreases (the handler saw it after its last call).
    function invariant_revisionNeverDecreases() public view {
        assertGe(registry.revision(), handler.ghostRevision(), "revision went back");
    }

    /// Trusted exactly when the node is active, its kind enabled (and not disabled since the node
    /// registered) and its provider approved.
    function invariant_trust() public view {
        bytes32[] memory ids = handler.nodeIds();
        bool[] memory trusted = registry.areTrusted(ids);
        for (uint256 i = 0; i < ids.length; ++i) {
            (IMailServerRegistry.NodeStatus status, address provider, bytes32 kind) = handler.ghostNode(ids[i]);
            uint256 retiredAt = handler.ghostRetiredAt(ids[i]);
            bool expected = status == IMailServerRegistry.NodeStatus.Active && handler.ghostKindEnabled(kind)
                && retiredAt == 0 && handler.ghostProviderStatus(provider) == IMailServerRegistry.ProviderStatus.Approved;
            // A node retired by its kind stays terminated, at the latest at that moment.
            if (retiredAt != 0) {
                uint256 terminated = registry.terminatedAt(ids[i]);
                assertTrue(terminated != 0 && terminated <= retiredAt, "retired node terminated");
            }
            assertEq(registry.isTrusted(ids[i]), expected, "isTrusted");
            assertEq(trusted[i], expected, "areTrusted");
            IMailServerRegistry.Node memory node = registry.getNode(ids[i]);
            assertEq(uint256(node.status), uint256(status), "node status");
            assertEq(node.provider, provider, "node provider");
            assertEq(node.kind, kind, "node kind");
        }
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; ++i) {
            assertEq(
                uint256(registry.getProvider(actors[i]).status),
                uint256(handler.ghostProviderStatus(actors[i])),
                "provider status"
            );
        }
    }

    /// Each kind's list holds exactly its non-removed nodes, each once.
    function invariant_kindListsMatchModel() public view {
        bytes32[] memory kinds = handler.kinds();
        bytes32[] memory ids = handler.nodeIds();
        for (uint256 k = 0; k < kinds.length; ++k) {
            (bytes32[] memory listed, uint256 total) = registry.nodesByKind(kinds[k], 0, 1000);
            assertEq(listed.length, total, "page holds the whole kind list");
            uint256 live;
            for (uint256 i = 0; i < ids.length; ++i) {
                (IMailServerRegistry.NodeStatus status,, bytes32 kind) = handler.ghostNode(ids[i]);
                if (kind != kinds[k] || status == IMailServerRegistry.NodeStatus.Removed) continue;
                ++live;
                assertEq(_count(listed, ids[i]), 1, "live node listed once under its kind");
            }
            assertEq(total, live, "kind list length");
            for (uint256 i = 0; i < listed.length; ++i) {
                IMailServerRegistry.Node memory node = registry.getNode(listed[i]);
                assertEq(node.kind, kinds[k], "listed node has the kind");
                assertTrue(node.status != IMailServerRegistry.NodeStatus.Removed, "listed node not removed");
            }
        }
    }

    /// Each provider's list holds exactly its non-removed nodes, each once, and `nodeCount` agrees.
    function invariant_providerListsMatchModel() public view {
        address[] memory actors = handler.actors();
        bytes32[] memory ids = handler.nodeIds();
        for (uint256 a = 0; a < actors.length; ++a) {
            (bytes32[] memory listed, uint256 total) = registry.nodesByProvider(actors[a], 0, 1000);
            assertEq(listed.length, total, "page holds the whole provider list");
            uint256 live;
            for (uint256 i = 0; i < ids.length; ++i) {
                (IMailServerRegistry.NodeStatus status, address provider,) = handler.ghostNode(ids[i]);
                if (provider != actors[a] || status == IMailServerRegistry.NodeStatus.Removed) continue;
                ++live;
                assertEq(_count(listed, ids[i]), 1, "live node listed once under its provider");
            }
            assertEq(total, live, "provider list length");
            assertEq(uint256(registry.getProvider(actors[a]).nodeCount), live, "nodeCount");
            for (uint256 i = 0; i < listed.length; ++i) {
                IMailServerRegistry.Node memory node = registry.getNode(listed[i]);
                assertEq(node.provider, actors[a], "listed node has the provider");
                assertTrue(node.status != IMailServerRegistry.NodeStatus.Removed, "listed node not removed");
            }
        }
    }

    function _count(bytes32[] memory list, bytes32 id) internal pure returns (uint256 n) {
        for (uint256 i = 0; i < list.length; ++i) {
            if (list[i] == id) ++n;
        }
    }
}
