// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title IMailServerRegistry
/// @notice A curated registry of providers and the server nodes (mail servers first) they run.
/// @dev A node is identified by its ENR node id: keccak256 of the node's uncompressed secp256k1
/// public key. The Ethereum address of that key is the node id's last 20 bytes, which is what a
/// node-key proof must recover to.
interface IMailServerRegistry is IAccessControl {
    // ------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------

    /// @dev `Removed` is terminal: a removed account can never become a provider again, so that a
    /// removal cannot be undone by re-applying.
    enum ProviderStatus {
        None,
        Pending,
        Approved,
        Suspended,
        Removed
    }

    /// @dev `Removed` is terminal and the node id stays taken (a node id is registered once).
    enum NodeStatus {
        None,
        Active,
        Inactive,
        Removed
    }

    struct Provider {
        address payout;
        ProviderStatus status;
        uint32 nodeCount;
        uint40 appliedAt;
        /// @dev Time of removal; 0 while not removed. The escrow stops releasing funds at this time.
        uint40 removedAt;
        string name;
        string metadataURI;
    }

    struct Node {
        address provider;
        uint96 pricePerMonth;
        bytes32 kind;
        NodeStatus status;
        uint40 registeredAt;
        /// @dev Time of removal; 0 while not removed.
        uint40 removedAt;
        string record;
    }

    /// @notice Everything a client needs to judge one node, returned by the batched view.
    /// @dev Only ever built in memory, so its field order follows readability, not slot packing.
    // solhint-disable-next-line gas-struct-packing
    struct NodeTrust {
        bytes32 nodeId;
        bool trusted;
        NodeStatus status;
        /// @dev The kind is enabled and was not disabled since the node registered.
        bool kindEnabled;
        ProviderStatus providerStatus;
        address provider;
        bytes32 kind;
        uint96 pricePerMonth;
        string record;
    }

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    event ProviderApplied(address indexed provider, address payout, string name, string metadataURI);
    event ProviderAdded(address indexed provider, address indexed curator, address payout, string name, string metadataURI);
    event ProviderApproved(address indexed provider, address indexed curator);
    event ProviderSuspended(address indexed provider, address indexed curator, string reason);
    event ProviderReinstated(address indexed provider, address indexed curator);
    event ProviderRemoved(address indexed provider, address indexed curator, string reason);
    event ProviderPayoutChanged(address indexed provider, address payout);
    event ProviderMetadataChanged(address indexed provider, string name, string metadataURI);
    event DefaultProviderChanged(address indexed provider);

    event KindEnabledChanged(bytes32 indexed kind, bool enabled);

    event NodeAdded(bytes32 indexed nodeId, address indexed provider, bytes32 indexed kind, uint96 pricePerMonth, string record);
    event NodeRecordUpdated(bytes32 indexed nodeId, string record);
    event NodePriceUpdated(bytes32 indexed nodeId, uint96 pricePerMonth);
    event NodeActiveChanged(bytes32 indexed nodeId, bool active);
    event NodeRemoved(bytes32 indexed nodeId, address indexed provider);
    /// @dev The escrow whose paid subscriptions a deactivation must wait for (set once).
    event EscrowSet(address indexed escrow);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    error ZeroAddress();
    error EmptyName();
    error NameTooLong(uint256 length, uint256 maxLength);
    error MetadataURITooLong(uint256 length, uint256 maxLength);
    error EmptyRecord();
    error RecordTooLong(uint256 length, uint256 maxLength);
    error ZeroKind();
    /// @dev A provider status transition that is not allowed from the current status.
    error InvalidProviderStatus(address provider, ProviderStatus current);
    error ProviderNotApproved(address provider, ProviderStatus current);
    error ProviderIsRemoved(address provider);
    error KindNotEnabled(bytes32 kind);
    error KindAlreadyInState(bytes32 kind, bool enabled);
    error NodeAlreadyRegistered(bytes32 nodeId);
    error UnknownNode(bytes32 nodeId);
    error NodeIsRemoved(bytes32 nodeId);
    error NodeAlreadyInState(bytes32 nodeId, bool active);
    error NotNodeProvider(bytes32 nodeId, address caller, address provider);
    error ProofExpired(uint256 deadline, uint256 nowTimestamp);
    /// @dev The node-key proof did not recover to the node id's address.
    error InvalidNodeKeyProof(bytes32 nodeId, address recovered);
    error PageLimitTooLarge(uint256 limit, uint256 maxLimit);
    /// @dev A node key is the 64-byte uncompressed secp256k1 public key (X || Y, no 0x04 prefix).
    error InvalidPublicKeyLength(uint256 length);
    /// @dev A node whose subscribers still hold unserved paid time cannot be switched off; remove
    /// it instead (which refunds them) or wait until their subscriptions end.
    error NodeHasPaidSubscriptions(bytes32 nodeId);
    error EscrowAlreadySet(address escrow);

    // ------------------------------------------------------------------------------------------
    // Providers
    // ------------------------------------------------------------------------------------------

    /// @notice Apply to become a provider; the application is pending until a curator approves it.
    /// @param name Human-readable name (1..64 bytes).
    /// @param metadataURI Where more about the provider can be read (at most 256 bytes; may be empty).
    /// @param payout Address that receives the provider's earnings.
    function applyAsProvider(string calldata name, string calldata metadataURI, address payout) external;

    /// @notice Add an approved provider directly (curator only), e.g. the default provider at deployment.
    /// @dev Works for an account with no record or a pending application.
    function addProvider(address provider, string calldata name, string calldata metadataURI, address payout) external;

    /// @notice Approve a pending provider (curator only).
    function approveProvider(address provider) external;

    /// @notice Suspend an approved provider (curator only): its nodes stop being trusted and its
    /// subscribers may take back unserved funds without a fee.
    function suspendProvider(address provider, string calldata reason) external;

    /// @notice Reinstate a suspended provider (curator only).
    function reinstateProvider(address provider) external;

    /// @notice Remove a provider for good (curator only); pending applications are rejected this way.
    function removeProvider(address provider, string calldata reason) external;

    /// @notice Make an approved provider the one that clients trust out of the box (curator only).
    function setDefaultProvider(address provider) external;

    /// @notice Change the caller's payout address.
    function setPayout(address payout) external;

    /// @notice Change the caller's name and metadata URI.
    function setProviderMetadata(string calldata name, string calldata metadataURI) external;

    // ------------------------------------------------------------------------------------------
    // Kinds
    // ------------------------------------------------------------------------------------------

    /// @notice Enable or disable a node kind (curator only).
    /// @dev Disabling a kind retires every node registered under it as a removal would: they are
    /// terminated at that moment (subscribers get their unserved funds back fee-free, providers
    /// are paid up to then) and stay untrusted if the kind is enabled again. New nodes may
    /// register under a re-enabled kind.
    /// @param kind e.g. keccak256("mailserver").
    function setKindEnabled(bytes32 kind, bool enabled) external;

    // ------------------------------------------------------------------------------------------
    // Nodes
    // ------------------------------------------------------------------------------------------

    /// @notice Register a node run by the caller, an approved provider.
    /// @dev The node id is computed here as the ENR rule has it, keccak256(publicKey), so one
    /// key has exactly one node id; the proof must recover to that key's address.
    /// @param publicKey The node key's uncompressed public key, 64 bytes (X || Y).
    /// @param kind An enabled node kind.
    /// @param record The node's endpoint record: ENR text or a multiaddr (1..404 bytes).
    /// @param pricePerMonth Price of 30 days of service in the escrow's token (0 = free).
    /// @param deadline Last timestamp at which the proof is accepted.
    /// @param proof EIP-712 signature of `NodeKeyProof(provider, nodeId, kind, deadline)` by the node key.
    /// @return nodeId keccak256(publicKey).
    function addNode(
        bytes calldata publicKey,
        bytes32 kind,
        string calldata record,
        uint96 pricePerMonth,
        uint256 deadline,
        bytes calldata proof
    ) external returns (bytes32 nodeId);

    /// @notice Replace a node's endpoint record (node's provider only).
    function updateNodeRecord(bytes32 nodeId, string calldata record) external;

    /// @notice Change a node's monthly price (node's provider only). Existing subscriptions keep
    /// the price they paid.
    function setNodePrice(bytes32 nodeId, uint96 pricePerMonth) external;

    /// @notice Deactivate or reactivate a node (node's provider only).
    /// @dev Deactivation is refused while the escrow holds unserved paid time for the node (see
    /// {NodeHasPaidSubscriptions}): a provider must not be paid for time its node is off.
    function setNodeActive(bytes32 nodeId, bool active) external;

    /// @notice Name the escrow whose paid subscriptions block a deactivation (admin only, once).
    function setEscrow(address escrow) external;

    /// @notice Remove a node for good (node's provider, or a curator). Its id stays taken.
    function removeNode(bytes32 nodeId) external;

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice keccak256("CURATOR_ROLE").
    function CURATOR_ROLE() external view returns (bytes32);

    /// @notice keccak256("mailserver"), the kind of a mail server (store) node.
    function MAILSERVER_KIND() external view returns (bytes32);

    /// @notice The EIP-712 digest (typed-data hash, domain `MailServerRegistry` version `1`) that
    /// the node key signs to prove control of the node: the hash of
    /// `NodeKeyProof(address provider,bytes32 nodeId,bytes32 kind,uint256 deadline)` in this
    /// registry's domain, for off-chain signers.
    function nodeKeyProofDigest(address provider, bytes32 nodeId, bytes32 kind, uint256 deadline)
        external
        view
        returns (bytes32);

    /// @notice The provider clients trust out of the box.
    function defaultProvider() external view returns (address);

    /// @notice A provider's record (status `None` when unknown).
    function getProvider(address provider) external view returns (Provider memory);

    /// @notice A provider's payout address and status, from one slot (what the escrow needs,
    /// without the name and URI strings `getProvider` copies).
    function providerPayout(address provider) external view returns (address payout, ProviderStatus status);

    /// @notice A node's record (status `None` when unknown).
    function getNode(bytes32 nodeId) external view returns (Node memory);

    /// @notice Whether a kind is enabled.
    function isKindEnabled(bytes32 kind) external view returns (bool);

    /// @notice True when the node is active, its kind is enabled and its provider is approved.
    function isTrusted(bytes32 nodeId) external view returns (bool);

    /// @notice The trust facts for many nodes in one call (unknown ids come back with status `None`).
    function getNodeTrust(bytes32[] calldata nodeIds) external view returns (NodeTrust[] memory);

    /// @notice Trust flags for many nodes in one call.
    function areTrusted(bytes32[] calldata nodeIds) external view returns (bool[] memory);

    /// @notice A page of the node ids of a kind (removed nodes are not listed).
    function nodesByKind(bytes32 kind, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory nodeIds, uint256 total);

    /// @notice A page of the node ids of a provider (removed nodes are not listed).
    function nodesByProvider(address provider, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory nodeIds, uint256 total);

    /// @notice A page of every account that ever applied or was added as a provider.
    function providers(uint256 offset, uint256 limit) external view returns (address[] memory accounts, uint256 total);

    /// @notice The escrow set by {setEscrow} (zero until then).
    function escrow() external view returns (address);

    /// @notice Increases on every state change, so clients can cache views until it moves.
    function revision() external view returns (uint256);

    /// @notice What the escrow needs to settle a node's service (cancel, withdraw), in one call:
    /// {nodeTerms} without the price, one storage read fewer.
    function nodeStanding(bytes32 nodeId) external view returns (address provider, bool trusted, uint40 terminated);

    /// @notice What the escrow needs to sell or settle a node's service, in one call.
    /// @return provider The node's provider (zero for an unknown node).
    /// @return pricePerMonth The current price of 30 days.
    /// @return trusted Whether the node is trusted now.
    /// @return terminated Earliest of the removal of the node or its provider and the first
    /// disabling of its kind since it registered; 0 if none happened.
    function nodeTerms(bytes32 nodeId)
        external
        view
        returns (address provider, uint96 pricePerMonth, bool trusted, uint40 terminated);

    /// @notice Earliest of the removal of the node or its provider and the first disabling of its
    /// kind since it registered; 0 if none happened.
    /// @dev The escrow stops releasing a node's funds at this time.
    function terminatedAt(bytes32 nodeId) external view returns (uint256);
}
