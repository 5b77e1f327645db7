// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TestBase} from "./utils/TestBase.sol";
import {Secp256k1} from "./utils/Secp256k1.sol";
import {MailServerRegistry} from "../../contracts/MailServerRegistry.sol";
import {IMailServerRegistry} from "../../contracts/interfaces/IMailServerRegistry.sol";

/// @dev Fuzz tests of the node-key proof: a proof binds the node key, the provider, the kind, the
/// deadline, the chain and the registry, and nothing else is accepted.
contract MailServerRegistryTest is TestBase {
    bytes32 internal constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant NODE_KEY_PROOF_TYPEHASH =
        keccak256("NodeKeyProof(address provider,bytes32 nodeId,bytes32 kind,uint256 deadline)");
    bytes32 internal constant KIND = keccak256("mailserver");
    bytes32 internal constant OTHER_KIND = keccak256("push-notifications");
    address internal constant PROVIDER = address(0xA11CE);
    address internal constant OTHER_PROVIDER = address(0xB0B);
    string internal constant RECORD = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj4";
    uint256 internal constant START = 1_700_000_000;

    MailServerRegistry internal registry;

    function setUp() public {
        vm.warp(START);
        registry = new MailServerRegistry(1 days, address(this));
        registry.setKindEnabled(KIND, true);
        registry.setKindEnabled(OTHER_KIND, true);
        registry.addProvider(PROVIDER, "Alice", "", PROVIDER);
        registry.addProvider(OTHER_PROVIDER, "Bob", "", OTHER_PROVIDER);
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------

    /// @dev The node key's 64-byte uncompressed public key (X || Y), as `addNode` takes it.
    function _publicKey(uint256 privateKey) internal pure returns (bytes memory) {
        return Secp256k1.publicKey(privateKey);
    }

    /// @dev The ENR node id: keccak256 of the public key (its last 20 bytes are the key's address).
    function _nodeId(uint256 privateKey) internal pure returns (bytes32) {
        return keccak256(_publicKey(privateKey));
    }

    function _sign(uint256 privateKey, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev The EIP-712 digest computed from scratch, for any registry address and chain.
    function _digest(
        address verifyingContract,
        uint256 chainId,
        address provider,
        bytes32 nodeId,
        bytes32 kind,
        uint256 deadline
    ) internal pure returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                EIP712_DOMAIN_TYPEHASH, keccak256("MailServerRegistry"), keccak256("1"), chainId, verifyingContract
            )
        );
        bytes32 structHash = keccak256(abi.encode(NODE_KEY_PROOF_TYPEHASH, provider, nodeId, kind, deadline));
        return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
    }

    /// @dev What the registry's `ecrecover` yields for `proof` over the digest of this registration.
    function _recovered(bytes memory proof, address provider, bytes32 nodeId, bytes32 kind, uint256 deadline)
        internal
        view
        returns (address)
    {
        return _recoveredOn(registry, proof, provider, nodeId, kind, deadline);
    }

    function _recoveredOn(
        MailServerRegistry target,
        bytes memory proof,
        address provider,
        bytes32 nodeId,
        bytes32 kind,
        uint256 deadline
    ) internal view returns (address) {
        bytes32 digest = target.nodeKeyProofDigest(provider, nodeId, kind, deadline);
        (bytes32 r, bytes32 s) = abi.decode(proof, (bytes32, bytes32)); // the first 64 of 65 bytes
        return ecrecover(digest, uint8(proof[64]), r, s);
    }

    function _expectInvalidProof(bytes32 nodeId, address recovered) internal {
        vm.expectRevert(abi.encodeWithSelector(IMailServerRegistry.InvalidNodeKeyProof.selector, nodeId, recovered));
    }

    function _add(address provider, uint256 privateKey, bytes32 kind, uint256 deadline, bytes memory proof) internal {
        bytes memory publicKey = _publicKey(privateKey);
        vm.prank(provider);
        registry.addNode(publicKey, kind, RECORD, 1 ether, deadline, proof);
    }

    function _assertNotRegistered(bytes32 nodeId, uint256 revisionBefore) internal view {
        assertEq(uint256(registry.getNode(nodeId).status), 0, "node status");
        assertEq(registry.revision(), revisionBefore, "revision");
    }

    // ------------------------------------------------------------------------------------------
    // Tests
    // ------------------------------------------------------------------------------------------

    function testFuzz_digestMatchesEip712(address provider, bytes32 nodeId, bytes32 kind, uint256 deadline)
        public
        view
    {
        assertEq(
            registry.nodeKeyProofDigest(provider, nodeId, kind, deadline),
            _digest(address(registry), block.chainid, provider, nodeId, kind, deadline),
            "digest"
        );
    }

    function testFuzz_acceptsValidProof(uint256 keySeed, uint96 price, uint256 ttl, uint256 elapsed)
        public
    {
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + bound(ttl, 0, 365 days);
        bytes memory proof = _sign(pk, registry.nodeKeyProofDigest(PROVIDER, nodeId, KIND, deadline));
        vm.warp(block.timestamp + bound(elapsed, 0, deadline - block.timestamp));
        uint256 revisionBefore = registry.revision();

        bytes memory publicKey = _publicKey(pk);
        vm.prank(PROVIDER);
        assertEq(registry.addNode(publicKey, KIND, RECORD, price, deadline, proof), nodeId, "returned id");

        IMailServerRegistry.Node memory node = registry.getNode(nodeId);
        assertEq(node.provider, PROVIDER, "provider");
        assertEq(uint256(node.pricePerMonth), uint256(price), "price");
        assertEq(node.kind, KIND, "kind");
        assertEq(uint256(node.status), uint256(IMailServerRegistry.NodeStatus.Active), "status");
        assertEq(uint256(node.registeredAt), block.timestamp, "registeredAt");
        assertTrue(registry.isTrusted(nodeId), "trusted");
        assertEq(registry.revision(), revisionBefore + 1, "revision");
        (bytes32[] memory ids, uint256 total) = registry.nodesByProvider(PROVIDER, 0, 10);
        assertEq(total, 1, "listed");
        assertEq(ids[0], nodeId, "listed id");
    }

    function testFuzz_rejectsProofByAnotherKey(uint256 keySeed, uint256 otherSeed) public {
        uint256 pk = boundPrivateKey(keySeed);
        uint256 otherPk = boundPrivateKey(otherSeed);
        vm.assume(vm.addr(pk) != vm.addr(otherPk));
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory proof = _sign(otherPk, registry.nodeKeyProofDigest(PROVIDER, nodeId, KIND, deadline));
        uint256 revisionBefore = registry.revision();

        _expectInvalidProof(nodeId, vm.addr(otherPk));
        _add(PROVIDER, pk, KIND, deadline, proof);
        _assertNotRegistered(nodeId, revisionBefore);
    }

    function testFuzz_rejectsProofForAnotherProvider(uint256 keySeed, address signedFor) public {
        vm.assume(signedFor != OTHER_PROVIDER);
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory proof = _sign(pk, registry.nodeKeyProofDigest(signedFor, nodeId, KIND, deadline));
        address recovered = _recovered(proof, OTHER_PROVIDER, nodeId, KIND, deadline);
        uint256 revisionBefore = registry.revision();

        _expectInvalidProof(nodeId, recovered);
        _add(OTHER_PROVIDER, pk, KIND, deadline, proof);
        _assertNotRegistered(nodeId, revisionBefore);
    }

    function testFuzz_rejectsProofForAnotherChain(uint256 keySeed, uint64 otherChainId) public {
        uint256 chainId = block.chainid;
        vm.assume(otherChainId != chainId && otherChainId != 0);
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;

        // Signed with the registry's own digest while the chain id is another one.
        vm.chainId(otherChainId);
        bytes32 foreignDigest = registry.nodeKeyProofDigest(PROVIDER, nodeId, KIND, deadline);
        assertEq(foreignDigest, _digest(address(registry), otherChainId, PROVIDER, nodeId, KIND, deadline), "digest");
        bytes memory proof = _sign(pk, foreignDigest);
        vm.chainId(chainId);

        address recovered = _recovered(proof, PROVIDER, nodeId, KIND, deadline);
        uint256 revisionBefore = registry.revision();
        _expectInvalidProof(nodeId, recovered);
        _add(PROVIDER, pk, KIND, deadline, proof);
        _assertNotRegistered(nodeId, revisionBefore);
    }

    function testFuzz_rejectsProofForAnotherRegistry(uint256 keySeed, address otherRegistry) public {
        vm.assume(otherRegistry != address(registry));
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory proof = _sign(pk, _digest(otherRegistry, block.chainid, PROVIDER, nodeId, KIND, deadline));
        address recovered = _recovered(proof, PROVIDER, nodeId, KIND, deadline);
        uint256 revisionBefore = registry.revision();

        _expectInvalidProof(nodeId, recovered);
        _add(PROVIDER, pk, KIND, deadline, proof);
        _assertNotRegistered(nodeId, revisionBefore);
    }

    function testFuzz_rejectsProofReplayedOnAnotherDeployment(uint256 keySeed) public {
        MailServerRegistry other = new MailServerRegistry(1 days, address(this));
        other.setKindEnabled(KIND, true);
        other.addProvider(PROVIDER, "Alice", "", PROVIDER);
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory proof = _sign(pk, registry.nodeKeyProofDigest(PROVIDER, nodeId, KIND, deadline));
        _add(PROVIDER, pk, KIND, deadline, proof);

        // Same provider, node, kind and deadline on another deployment: the proof does not carry over.
        _expectInvalidProof(nodeId, _recoveredOn(other, proof, PROVIDER, nodeId, KIND, deadline));
        bytes memory publicKey = _publicKey(pk);
        vm.prank(PROVIDER);
        other.addNode(publicKey, KIND, RECORD, 1 ether, deadline, proof);
    }

    function testFuzz_rejectsProofForAnotherKind(uint256 keySeed, bytes32 signedKind) public {
        vm.assume(signedKind != KIND);
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory proof = _sign(pk, registry.nodeKeyProofDigest(PROVIDER, nodeId, signedKind, deadline));
        address recovered = _recovered(proof, PROVIDER, nodeId, KIND, deadline);
        uint256 revisionBefore = registry.revision();

        _expectInvalidProof(nodeId, recovered);
        _add(PROVIDER, pk, KIND, deadline, proof);
        _assertNotRegistered(nodeId, revisionBefore);
    }

    function testFuzz_rejectsExpiredProof(uint256 keySeed, uint256 ttl, uint256 lateBy) public {
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + bound(ttl, 0, 365 days);
        bytes memory proof = _sign(pk, registry.nodeKeyProofDigest(PROVIDER, nodeId, KIND, deadline));
        vm.warp(deadline + bound(lateBy, 1, 365 days));
        uint256 revisionBefore = registry.revision();

        vm.expectRevert(abi.encodeWithSelector(IMailServerRegistry.ProofExpired.selector, deadline, block.timestamp));
        _add(PROVIDER, pk, KIND, deadline, proof);
        _assertNotRegistered(nodeId, revisionBefore);
    }

    function testFuzz_rejectsHighS(uint256 keySeed) public {
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest = registry.nodeKeyProofDigest(PROVIDER, nodeId, KIND, deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);

        // The malleable twin: same signer for raw ecrecover, s in the upper half.
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        assertEq(ecrecover(digest, flippedV, r, highS), vm.addr(pk), "twin recovers the key");
        uint256 revisionBefore = registry.revision();

        _expectInvalidProof(nodeId, address(0));
        _add(PROVIDER, pk, KIND, deadline, abi.encodePacked(r, highS, flippedV));
        _assertNotRegistered(nodeId, revisionBefore);

        // The canonical signature is still accepted.
        _add(PROVIDER, pk, KIND, deadline, abi.encodePacked(r, s, v));
        assertTrue(registry.isTrusted(nodeId), "canonical accepted");
    }

    function testFuzz_rejectsMalformedProof(uint256 keySeed, bytes memory proof) public {
        vm.assume(proof.length != 65);
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;
        _expectInvalidProof(nodeId, address(0));
        _add(PROVIDER, pk, KIND, deadline, proof);
    }

    function testFuzz_recordLength(uint256 keySeed, uint256 length) public {
        length = bound(length, 0, 500);
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory proof = _sign(pk, registry.nodeKeyProofDigest(PROVIDER, nodeId, KIND, deadline));
        string memory record = string(new bytes(length));

        if (length == 0) {
            vm.expectRevert(IMailServerRegistry.EmptyRecord.selector);
        } else if (length > 404) {
            vm.expectRevert(abi.encodeWithSelector(IMailServerRegistry.RecordTooLong.selector, length, 404));
        }
        bytes memory publicKey = _publicKey(pk);
        vm.prank(PROVIDER);
        registry.addNode(publicKey, KIND, record, 0, deadline, proof);
        assertEq(registry.isTrusted(nodeId), length >= 1 && length <= 404, "registered iff 1..404 bytes");
    }

    /// @dev One key has one node id: a proof for any other id with the key's address in its last
    /// 20 bytes (what the registry accepted before node ids were computed on chain) is refused.
    function testFuzz_nodeIdIsBoundToThePublicKey(uint256 keySeed, uint96 upper) public {
        uint256 pk = boundPrivateKey(keySeed);
        bytes32 nodeId = _nodeId(pk);
        bytes32 squatted = bytes32((uint256(upper) << 160) | uint160(vm.addr(pk)));
        vm.assume(squatted != nodeId);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory proof = _sign(pk, registry.nodeKeyProofDigest(PROVIDER, squatted, KIND, deadline));
        uint256 revisionBefore = registry.revision();

        _expectInvalidProof(nodeId, _recovered(proof, PROVIDER, nodeId, KIND, deadline));
        _add(PROVIDER, pk, KIND, deadline, proof);
        _assertNotRegistered(nodeId, revisionBefore);
        _assertNotRegistered(squatted, revisionBefore);
    }

    function testFuzz_rejectsPublicKeyOfWrongLength(bytes memory publicKey) public {
        vm.assume(publicKey.length != 64);
        vm.expectRevert(abi.encodeWithSelector(IMailServerRegistry.InvalidPublicKeyLength.selector, publicKey.length));
        vm.prank(PROVIDER);
        registry.addNode(publicKey, KIND, RECORD, 0, block.timestamp, "");
    }
}
