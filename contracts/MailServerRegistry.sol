// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IMailServerRegistry} from "./interfaces/IMailServerRegistry.sol";
import {ISubscriptionEscrow} from "./interfaces/ISubscriptionEscrow.sol";

/// @title MailServerRegistry
/// @notice A curated registry of providers and the server nodes (mail servers first) they run.
/// @dev Roles: the default admin (two-step transfer with a delay, see
/// {AccessControlDefaultAdminRules}) manages curators; curators approve, suspend and remove
/// providers, enable node kinds and may remove any node. A provider proves control of a node key
/// with an EIP-712 signature made by that key (see {nodeKeyProofDigest}).
///
/// Every state-changing function runs in constant time: nodes are listed per kind and per
/// provider in arrays with swap-and-pop removal, each node remembering its index in both.
contract MailServerRegistry is IMailServerRegistry, AccessControlDefaultAdminRules, EIP712 {
    // ------------------------------------------------------------------------------------------
    // Constants
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMailServerRegistry
    bytes32 public constant CURATOR_ROLE = keccak256("CURATOR_ROLE");

    /// @inheritdoc IMailServerRegistry
    bytes32 public constant MAILSERVER_KIND = keccak256("mailserver");

    /// @notice EIP-712 type hash of a node-key proof.
    bytes32 public constant NODE_KEY_PROOF_TYPEHASH =
        keccak256("NodeKeyProof(address provider,bytes32 nodeId,bytes32 kind,uint256 deadline)");

    /// @notice Longest provider name, in bytes.
    uint256 public constant MAX_NAME_LENGTH = 64;

    /// @notice Longest provider metadata URI, in bytes.
    uint256 public constant MAX_METADATA_URI_LENGTH = 256;

    /// @notice Longest node record, in bytes: the text of the largest ENR (300 bytes, EIP-778) is
    /// `enr:` and 400 base64url characters, so any valid ENR fits (Waku fleet records are 360-400).
    uint256 public constant MAX_RECORD_LENGTH = 404;

    /// @notice Largest page that the paging views return.
    uint256 public constant MAX_PAGE_LIMIT = 1000;

    // ------------------------------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------------------------------

    /// @dev A provider as stored. The number of its nodes is the length of its node list, so it
    /// is not stored twice. (solhint's packing check misreads the two strings; slot 0 holds 31 bytes.)
    // solhint-disable-next-line gas-struct-packing
    struct ProviderData {
        // slot 0: payout (20) | status (1) | appliedAt (5) | removedAt (5) = 31 bytes
        address payout;
        ProviderStatus status;
        uint40 appliedAt;
        uint40 removedAt;
        // slot 1
        string name;
        // slot 2
        string metadataURI;
    }

    /// @dev A node as stored, with its positions in the per-kind and per-provider lists (only
    /// meaningful while the node is not removed). Laid out by what is read together, not by
    /// size: the trust check's fields fill slot 0, the price sits apart in slot 2.
    // solhint-disable-next-line gas-struct-packing
    struct NodeData {
        // slot 0: everything the trust check reads of the node, so that {nodeStanding} reads
        // three slots (this, the provider's and the kind's) and {nodeTerms} one more, the price.
        // provider (20) | status (1) | removedAt (5) | kindEpoch (3) | kindNumber (3) = 32 bytes
        address provider;
        NodeStatus status;
        uint40 removedAt;
        /// @dev How many times the kind had been disabled when the node registered: a later
        /// disabling (the kind's count moved past this) retired the node.
        uint24 kindEpoch;
        /// @dev The kind's small number (see `_kindNumbers`), so the trust check reads the kind's
        /// state without reading the `kind` slot.
        uint24 kindNumber;
        // slot 1
        bytes32 kind;
        // slot 2: pricePerMonth (12) | registeredAt (5) | kindIndex (4) | providerIndex (4) = 25 bytes
        uint96 pricePerMonth;
        uint40 registeredAt;
        uint32 kindIndex;
        uint32 providerIndex;
        // slot 3
        string record;
    }

    mapping(address provider => ProviderData) private _providers;
    mapping(bytes32 nodeId => NodeData) private _nodes;
    /// @dev One slot per kind: read together by the trust check.
    struct KindState {
        bool enabled;
        uint32 disables;
    }

    /// @dev Each kind gets a number (from 1) when first enabled; its state is kept by number.
    mapping(bytes32 kind => uint32) private _kindNumbers;
    mapping(uint32 kindNumber => KindState) private _kinds;
    /// @dev When the kind was disabled for the `i`-th time (append-only), so a node retired by
    /// the `i`-th disabling keeps that termination time whatever happens to the kind later.
    mapping(uint32 kindNumber => mapping(uint256 i => uint40)) private _kindDisabledAt;
    mapping(bytes32 kind => bytes32[]) private _nodesByKind;
    mapping(address provider => bytes32[]) private _nodesByProvider;
    /// @dev Every account that ever applied or was added, in order; append-only.
    address[] private _providerList;

    // one slot: defaultProvider (20) | revision (12) = 32 bytes
    address private _defaultProvider;
    uint96 private _revision;

    // one slot: escrow (20) | kindCount (4)
    address private _escrow;
    uint32 private _kindCount;

    // ------------------------------------------------------------------------------------------
    // Construction
    // ------------------------------------------------------------------------------------------

    /// @param initialAdminDelay Delay of a default-admin transfer, in seconds.
    /// @param admin The default admin, also made a curator.
    constructor(uint48 initialAdminDelay, address admin)
        AccessControlDefaultAdminRules(initialAdminDelay, admin)
        EIP712("MailServerRegistry", "1")
    {
        _grantRole(CURATOR_ROLE, admin);
    }

    // ------------------------------------------------------------------------------------------
    // Providers
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMailServerRegistry
    function applyAsProvider(string calldata name, string calldata metadataURI, address payout) external {
        ProviderData storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.None) revert InvalidProviderStatus(msg.sender, p.status);
        _checkPayout(payout);
        _checkMetadata(name, metadataURI);

        _enroll(msg.sender, p);
        _setProviderFields(p, ProviderStatus.Pending, payout, name, metadataURI);
        emit ProviderApplied(msg.sender, payout, name, metadataURI);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function addProvider(address provider, string calldata name, string calldata metadataURI, address payout)
        external
        onlyRole(CURATOR_ROLE)
    {
        if (provider == address(0)) revert ZeroAddress();
        ProviderData storage p = _providers[provider];
        ProviderStatus status = p.status;
        if (status != ProviderStatus.None && status != ProviderStatus.Pending) {
            revert InvalidProviderStatus(provider, status);
        }
        _checkPayout(payout);
        _checkMetadata(name, metadataURI);

        if (status == ProviderStatus.None) _enroll(provider, p);
        _setProviderFields(p, ProviderStatus.Approved, payout, name, metadataURI);
        emit ProviderAdded(provider, msg.sender, payout, name, metadataURI);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function approveProvider(address provider) external onlyRole(CURATOR_ROLE) {
        _transition(provider, ProviderStatus.Pending, ProviderStatus.Approved);
        emit ProviderApproved(provider, msg.sender);
    }

    /// @inheritdoc IMailServerRegistry
    function suspendProvider(address provider, string calldata reason) external onlyRole(CURATOR_ROLE) {
        _transition(provider, ProviderStatus.Approved, ProviderStatus.Suspended);
        emit ProviderSuspended(provider, msg.sender, reason);
    }

    /// @inheritdoc IMailServerRegistry
    function reinstateProvider(address provider) external onlyRole(CURATOR_ROLE) {
        _transition(provider, ProviderStatus.Suspended, ProviderStatus.Approved);
        emit ProviderReinstated(provider, msg.sender);
    }

    /// @inheritdoc IMailServerRegistry
    /// @dev The provider's nodes stay listed (untrusted) until they are removed one by one, so
    /// that this call stays constant-time. Removing the default provider clears the default.
    function removeProvider(address provider, string calldata reason) external onlyRole(CURATOR_ROLE) {
        ProviderData storage p = _providers[provider];
        ProviderStatus status = p.status;
        if (status == ProviderStatus.None || status == ProviderStatus.Removed) {
            revert InvalidProviderStatus(provider, status);
        }
        p.status = ProviderStatus.Removed;
        p.removedAt = uint40(block.timestamp);
        emit ProviderRemoved(provider, msg.sender, reason);
        if (_defaultProvider == provider) _setDefaultProvider(address(0));
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function setDefaultProvider(address provider) external onlyRole(CURATOR_ROLE) {
        ProviderStatus status = _providers[provider].status;
        if (status != ProviderStatus.Approved) revert ProviderNotApproved(provider, status);
        _setDefaultProvider(provider);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function setPayout(address payout) external {
        ProviderData storage p = _liveProvider(msg.sender);
        _checkPayout(payout);
        p.payout = payout;
        emit ProviderPayoutChanged(msg.sender, payout);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function setProviderMetadata(string calldata name, string calldata metadataURI) external {
        ProviderData storage p = _liveProvider(msg.sender);
        _checkMetadata(name, metadataURI);
        p.name = name;
        p.metadataURI = metadataURI;
        emit ProviderMetadataChanged(msg.sender, name, metadataURI);
        _bumpRevision();
    }

    // ------------------------------------------------------------------------------------------
    // Kinds
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMailServerRegistry
    function setKindEnabled(bytes32 kind, bool enabled) external onlyRole(CURATOR_ROLE) {
        if (kind == bytes32(0)) revert ZeroKind();
        uint32 number = _kindNumbers[kind];
        if (number == 0 && enabled) {
            number = ++_kindCount;
            _kindNumbers[kind] = number;
        }
        KindState storage k = _kinds[number];
        if (k.enabled == enabled) revert KindAlreadyInState(kind, enabled);
        k.enabled = enabled;
        if (!enabled) {
            uint32 disables = k.disables;
            _kindDisabledAt[number][disables] = uint40(block.timestamp);
            k.disables = disables + 1;
        }
        emit KindEnabledChanged(kind, enabled);
        _bumpRevision();
    }

    // ------------------------------------------------------------------------------------------
    // Nodes
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMailServerRegistry
    function addNode(
        bytes calldata publicKey,
        bytes32 kind,
        string calldata record,
        uint96 pricePerMonth,
        uint256 deadline,
        bytes calldata proof
    ) external returns (bytes32 nodeId) {
        if (publicKey.length != 64) revert InvalidPublicKeyLength(publicKey.length);
        nodeId = keccak256(publicKey);
        _requireApproved(msg.sender);
        _checkNewNode(nodeId, kind);
        _checkRecord(record);
        _verifyNodeKeyProof(msg.sender, nodeId, kind, deadline, proof);

        _storeNode(nodeId, msg.sender, kind, pricePerMonth, record);
        emit NodeAdded(nodeId, msg.sender, kind, pricePerMonth, record);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function updateNodeRecord(bytes32 nodeId, string calldata record) external {
        NodeData storage n = _callersNode(nodeId);
        _checkRecord(record);
        n.record = record;
        emit NodeRecordUpdated(nodeId, record);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function setNodePrice(bytes32 nodeId, uint96 pricePerMonth) external {
        NodeData storage n = _callersNode(nodeId);
        n.pricePerMonth = pricePerMonth;
        emit NodePriceUpdated(nodeId, pricePerMonth);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function setNodeActive(bytes32 nodeId, bool active) external {
        NodeData storage n = _callersNode(nodeId);
        if ((n.status == NodeStatus.Active) == active) revert NodeAlreadyInState(nodeId, active);
        address escrow_ = _escrow;
        if (!active && escrow_ != address(0) && ISubscriptionEscrow(escrow_).holdsUnservedFunds(nodeId)) {
            revert NodeHasPaidSubscriptions(nodeId);
        }
        n.status = active ? NodeStatus.Active : NodeStatus.Inactive;
        emit NodeActiveChanged(nodeId, active);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    /// @dev Allowed to the node's provider whatever its status (even removed), and to curators.
    function removeNode(bytes32 nodeId) external {
        NodeData storage n = _liveNode(nodeId);
        address provider = n.provider;
        if (msg.sender != provider && !hasRole(CURATOR_ROLE, msg.sender)) {
            revert NotNodeProvider(nodeId, msg.sender, provider);
        }
        n.status = NodeStatus.Removed;
        n.removedAt = uint40(block.timestamp);
        _unlistFromKind(n.kind, n.kindIndex);
        _unlistFromProvider(provider, n.providerIndex);
        emit NodeRemoved(nodeId, provider);
        _bumpRevision();
    }

    /// @inheritdoc IMailServerRegistry
    function setEscrow(address escrow_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (escrow_ == address(0)) revert ZeroAddress();
        if (_escrow != address(0)) revert EscrowAlreadySet(_escrow);
        _escrow = escrow_;
        emit EscrowSet(escrow_);
        _bumpRevision();
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMailServerRegistry
    function escrow() external view returns (address) {
        return _escrow;
    }

    /// @inheritdoc IMailServerRegistry
    function nodeKeyProofDigest(address provider, bytes32 nodeId, bytes32 kind, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(NODE_KEY_PROOF_TYPEHASH, provider, nodeId, kind, deadline)));
    }

    /// @inheritdoc IMailServerRegistry
    function defaultProvider() external view returns (address) {
        return _defaultProvider;
    }

    /// @inheritdoc IMailServerRegistry
    /// @dev `nodeCount` is the number of the provider's nodes that are not removed.
    function getProvider(address provider) external view returns (Provider memory) {
        ProviderData storage p = _providers[provider];
        return Provider({
            payout: p.payout,
            status: p.status,
            nodeCount: SafeCast.toUint32(_nodesByProvider[provider].length),
            appliedAt: p.appliedAt,
            removedAt: p.removedAt,
            name: p.name,
            metadataURI: p.metadataURI
        });
    }

    /// @inheritdoc IMailServerRegistry
    function providerPayout(address provider) external view returns (address payout, ProviderStatus status) {
        ProviderData storage p = _providers[provider];
        return (p.payout, p.status);
    }

    /// @inheritdoc IMailServerRegistry
    function getNode(bytes32 nodeId) external view returns (Node memory) {
        NodeData storage n = _nodes[nodeId];
        return Node({
            provider: n.provider,
            pricePerMonth: n.pricePerMonth,
            kind: n.kind,
            status: n.status,
            registeredAt: n.registeredAt,
            removedAt: n.removedAt,
            record: n.record
        });
    }

    /// @inheritdoc IMailServerRegistry
    function isKindEnabled(bytes32 kind) external view returns (bool) {
        return _kinds[_kindNumbers[kind]].enabled;
    }

    /// @inheritdoc IMailServerRegistry
    function isTrusted(bytes32 nodeId) external view returns (bool) {
        return _isTrusted(_nodes[nodeId]);
    }

    /// @inheritdoc IMailServerRegistry
    function getNodeTrust(bytes32[] calldata nodeIds) external view returns (NodeTrust[] memory trust) {
        trust = new NodeTrust[](nodeIds.length);
        for (uint256 i = 0; i < nodeIds.length; ++i) {
            trust[i] = _nodeTrust(nodeIds[i]);
        }
    }

    /// @inheritdoc IMailServerRegistry
    function areTrusted(bytes32[] calldata nodeIds) external view returns (bool[] memory trusted) {
        trusted = new bool[](nodeIds.length);
        for (uint256 i = 0; i < nodeIds.length; ++i) {
            trusted[i] = _isTrusted(_nodes[nodeIds[i]]);
        }
    }

    /// @inheritdoc IMailServerRegistry
    function nodesByKind(bytes32 kind, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory nodeIds, uint256 total)
    {
        return _pageOfIds(_nodesByKind[kind], offset, limit);
    }

    /// @inheritdoc IMailServerRegistry
    function nodesByProvider(address provider, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory nodeIds, uint256 total)
    {
        return _pageOfIds(_nodesByProvider[provider], offset, limit);
    }

    /// @inheritdoc IMailServerRegistry
    function providers(uint256 offset, uint256 limit) external view returns (address[] memory accounts, uint256 total) {
        (uint256 start, uint256 end) = _pageBounds(_providerList.length, offset, limit);
        accounts = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            accounts[i - start] = _providerList[i];
        }
        total = _providerList.length;
    }

    /// @inheritdoc IMailServerRegistry
    /// @dev Counts changes of the registry's own data (providers, kinds, nodes, the default
    /// provider); role changes are tracked by the {AccessControl} events instead.
    function revision() external view returns (uint256) {
        return _revision;
    }

    /// @inheritdoc IMailServerRegistry
    function nodeTerms(bytes32 nodeId)
        external
        view
        returns (address provider, uint96 pricePerMonth, bool trusted, uint40 terminated)
    {
        NodeData storage n = _nodes[nodeId];
        (provider, trusted, terminated) = _standing(n);
        pricePerMonth = n.pricePerMonth;
    }

    /// @inheritdoc IMailServerRegistry
    function nodeStanding(bytes32 nodeId) external view returns (address provider, bool trusted, uint40 terminated) {
        return _standing(_nodes[nodeId]);
    }

    /// @inheritdoc IMailServerRegistry
    function terminatedAt(bytes32 nodeId) external view returns (uint256) {
        return _terminatedAt(_nodes[nodeId]);
    }

    /// @inheritdoc AccessControlDefaultAdminRules
    function supportsInterface(bytes4 interfaceId) public view virtual override returns (bool) {
        return interfaceId == type(IMailServerRegistry).interfaceId || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------------------------------
    // Internal: providers
    // ------------------------------------------------------------------------------------------

    /// @dev Record a new account in the provider list; `p` must be its (empty) storage record.
    function _enroll(address provider, ProviderData storage p) private {
        p.appliedAt = uint40(block.timestamp);
        _providerList.push(provider);
    }

    function _setProviderFields(
        ProviderData storage p,
        ProviderStatus status,
        address payout,
        string calldata name,
        string calldata metadataURI
    ) private {
        p.payout = payout;
        p.status = status;
        p.name = name;
        p.metadataURI = metadataURI;
    }

    /// @dev Move `provider` from status `from` to `to`, or revert.
    function _transition(address provider, ProviderStatus from, ProviderStatus to) private {
        ProviderData storage p = _providers[provider];
        if (p.status != from) revert InvalidProviderStatus(provider, p.status);
        p.status = to;
        _bumpRevision();
    }

    function _setDefaultProvider(address provider) private {
        _defaultProvider = provider;
        emit DefaultProviderChanged(provider);
    }

    /// @dev The record of a provider that may still manage itself (pending, approved or suspended).
    function _liveProvider(address provider) private view returns (ProviderData storage p) {
        p = _providers[provider];
        ProviderStatus status = p.status;
        if (status == ProviderStatus.Removed) revert ProviderIsRemoved(provider);
        if (status == ProviderStatus.None) revert InvalidProviderStatus(provider, status);
    }

    function _requireApproved(address provider) private view {
        ProviderStatus status = _providers[provider].status;
        if (status != ProviderStatus.Approved) revert ProviderNotApproved(provider, status);
    }

    function _checkPayout(address payout) private pure {
        if (payout == address(0)) revert ZeroAddress();
    }

    function _checkMetadata(string calldata name, string calldata metadataURI) private pure {
        uint256 nameLength = bytes(name).length;
        if (nameLength == 0) revert EmptyName();
        if (nameLength > MAX_NAME_LENGTH) revert NameTooLong(nameLength, MAX_NAME_LENGTH);
        uint256 uriLength = bytes(metadataURI).length;
        if (uriLength > MAX_METADATA_URI_LENGTH) revert MetadataURITooLong(uriLength, MAX_METADATA_URI_LENGTH);
    }

    // ------------------------------------------------------------------------------------------
    // Internal: nodes
    // ------------------------------------------------------------------------------------------

    function _checkNewNode(bytes32 nodeId, bytes32 kind) private view {
        if (kind == bytes32(0)) revert ZeroKind();
        if (!_kinds[_kindNumbers[kind]].enabled) revert KindNotEnabled(kind);
        if (_nodes[nodeId].status != NodeStatus.None) revert NodeAlreadyRegistered(nodeId);
    }

    function _checkRecord(string calldata record) private pure {
        uint256 length = bytes(record).length;
        if (length == 0) revert EmptyRecord();
        if (length > MAX_RECORD_LENGTH) revert RecordTooLong(length, MAX_RECORD_LENGTH);
    }

    /// @dev Check that `proof` is the node key's signature of this registration. The node key's
    /// address is the node id's last 20 bytes. Malleable (high-s) and malformed signatures are
    /// rejected by {ECDSA-tryRecover}.
    function _verifyNodeKeyProof(
        address provider,
        bytes32 nodeId,
        bytes32 kind,
        uint256 deadline,
        bytes calldata proof
    ) private view {
        if (block.timestamp > deadline) revert ProofExpired(deadline, block.timestamp);
        (address recovered, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(nodeKeyProofDigest(provider, nodeId, kind, deadline), proof);
        if (err != ECDSA.RecoverError.NoError || recovered != address(uint160(uint256(nodeId)))) {
            revert InvalidNodeKeyProof(nodeId, recovered);
        }
    }

    function _storeNode(bytes32 nodeId, address provider, bytes32 kind, uint96 pricePerMonth, string calldata record)
        private
    {
        bytes32[] storage byKind = _nodesByKind[kind];
        bytes32[] storage byProvider = _nodesByProvider[provider];
        NodeData storage n = _nodes[nodeId];
        n.provider = provider;
        n.pricePerMonth = pricePerMonth;
        n.kind = kind;
        n.status = NodeStatus.Active;
        n.registeredAt = uint40(block.timestamp);
        n.kindIndex = SafeCast.toUint32(byKind.length);
        n.providerIndex = SafeCast.toUint32(byProvider.length);
        uint32 number = _kindNumbers[kind];
        n.kindNumber = SafeCast.toUint24(number);
        n.kindEpoch = SafeCast.toUint24(_kinds[number].disables);
        n.record = record;
        byKind.push(nodeId);
        byProvider.push(nodeId);
    }

    /// @dev A node that exists and is not removed.
    function _liveNode(bytes32 nodeId) private view returns (NodeData storage n) {
        n = _nodes[nodeId];
        NodeStatus status = n.status;
        if (status == NodeStatus.None) revert UnknownNode(nodeId);
        if (status == NodeStatus.Removed) revert NodeIsRemoved(nodeId);
    }

    /// @dev A live node of the caller, which must not be a removed provider (a removed provider
    /// may only remove its nodes).
    function _callersNode(bytes32 nodeId) private view returns (NodeData storage n) {
        n = _liveNode(nodeId);
        address provider = n.provider;
        if (msg.sender != provider) revert NotNodeProvider(nodeId, msg.sender, provider);
        if (_providers[provider].status == ProviderStatus.Removed) revert ProviderIsRemoved(provider);
    }

    /// @dev Swap-and-pop `index` out of the kind's list, fixing the moved node's index.
    function _unlistFromKind(bytes32 kind, uint32 index) private {
        bytes32[] storage list = _nodesByKind[kind];
        uint256 last = list.length - 1;
        if (index != last) {
            bytes32 moved = list[last];
            list[index] = moved;
            _nodes[moved].kindIndex = index;
        }
        list.pop();
    }

    /// @dev Swap-and-pop `index` out of the provider's list, fixing the moved node's index.
    function _unlistFromProvider(address provider, uint32 index) private {
        bytes32[] storage list = _nodesByProvider[provider];
        uint256 last = list.length - 1;
        if (index != last) {
            bytes32 moved = list[last];
            list[index] = moved;
            _nodes[moved].providerIndex = index;
        }
        list.pop();
    }

    // ------------------------------------------------------------------------------------------
    // Internal: views
    // ------------------------------------------------------------------------------------------

    /// @dev Active, its kind serving and its provider approved (see {_standing}).
    function _isTrusted(NodeData storage n) private view returns (bool trusted) {
        (, trusted,) = _standing(n);
    }

    /// @dev The kind is enabled and was not disabled since the node registered.
    function _kindServes(NodeData storage n) private view returns (bool) {
        KindState memory k = _kinds[n.kindNumber];
        return k.enabled && k.disables == n.kindEpoch;
    }

    /// @dev The node's provider, whether it is trusted (active, its kind enabled and not disabled
    /// since it registered, its provider approved) and when it was terminated (earliest non-zero
    /// of the node's removal, its provider's removal and the first disabling of its kind since it
    /// registered; 0 if none). Each of the three slots is read once: the escrow asks this on
    /// every purchase, cancellation and withdrawal.
    function _standing(NodeData storage n) private view returns (address provider, bool trusted, uint40 terminated) {
        provider = n.provider;
        NodeStatus status = n.status;
        uint40 removedAt = n.removedAt;
        uint24 epoch = n.kindEpoch;
        uint24 number = n.kindNumber;
        ProviderData storage p = _providers[provider];
        ProviderStatus providerStatus = p.status;
        uint40 providerRemovedAt = p.removedAt;
        KindState memory k = _kinds[number];
        trusted = status == NodeStatus.Active && k.enabled && k.disables == epoch
            && providerStatus == ProviderStatus.Approved;
        terminated = _earliest(removedAt, providerRemovedAt);
        if (k.disables > epoch) terminated = _earliest(terminated, _kindDisabledAt[number][epoch]);
    }

    /// @dev When the node was terminated (see {_standing}).
    function _terminatedAt(NodeData storage n) private view returns (uint40 at) {
        (,, at) = _standing(n);
    }

    function _earliest(uint40 a, uint40 b) private pure returns (uint40) {
        if (a == 0) return b;
        if (b == 0 || a < b) return a;
        return b;
    }

    function _nodeTrust(bytes32 nodeId) private view returns (NodeTrust memory) {
        NodeData storage n = _nodes[nodeId];
        return NodeTrust({
            nodeId: nodeId,
            trusted: _isTrusted(n),
            status: n.status,
            kindEnabled: _kindServes(n),
            providerStatus: _providers[n.provider].status,
            provider: n.provider,
            kind: n.kind,
            pricePerMonth: n.pricePerMonth,
            record: n.record
        });
    }

    function _pageOfIds(bytes32[] storage list, uint256 offset, uint256 limit)
        private
        view
        returns (bytes32[] memory page, uint256 total)
    {
        total = list.length;
        (uint256 start, uint256 end) = _pageBounds(total, offset, limit);
        page = new bytes32[](end - start);
        for (uint256 i = start; i < end; ++i) {
            page[i - start] = list[i];
        }
    }

    /// @dev The range [start, end) of a page; empty when `offset` is past the end.
    function _pageBounds(uint256 total, uint256 offset, uint256 limit)
        private
        pure
        returns (uint256 start, uint256 end)
    {
        if (limit > MAX_PAGE_LIMIT) revert PageLimitTooLarge(limit, MAX_PAGE_LIMIT);
        if (offset >= total) return (total, total);
        start = offset;
        end = total - offset > limit ? offset + limit : total;
    }

    // ------------------------------------------------------------------------------------------
    // Internal: bookkeeping
    // ------------------------------------------------------------------------------------------

    function _bumpRevision() private {
        ++_revision;
    }
}
