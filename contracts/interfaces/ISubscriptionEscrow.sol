// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ISubscriptionEscrow
/// @notice Prepaid subscriptions to registered nodes, paid in one ERC-20 token. Funds are held
/// and released to the node's provider second by second as the time is served; the unserved
/// part stays refundable.
/// @dev A subscription is keyed by (node id, client id). The client id is the address of the key
/// the messaging client signs its requests with; the owner is the account that paid.
interface ISubscriptionEscrow {
    // ------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------

    /// @dev A subscription's record. The escrow stores only a commitment to it (one slot, see
    /// {subscriptionCommitment}) and every event that leaves a record stored carries it whole, so
    /// callers pass the current record back to manage it.
    struct Subscription {
        address owner;
        /// @dev Start of the current release segment (purchase, or the last extension).
        uint40 start;
        uint40 expiresAt;
        /// @dev Cancellation fee locked at purchase, in basis points of the refund.
        uint16 cancellationFeeBps;
        /// @dev What is still held for this subscription, settled up to `start`.
        uint96 paid;
        /// @dev Automatic renewal: months per renewal (0 = off) and the highest accepted price.
        uint8 renewMonths;
        uint96 renewMaxPricePerMonth;
    }

    struct SubscriptionStatus {
        bool active;
        address owner;
        uint256 expiresAt;
        /// @dev 30-day months left, rounded up once more than a day of the last one is left (so a
        /// fresh 2-month purchase shows 2, not 3, despite the expiry's rounding to midnight).
        uint256 monthsLeft;
        /// @dev What cancelling now pays back, after any fee.
        uint256 refundableNow;
        uint256 cancellationFeeNow;
    }

    struct Quote {
        bool trusted;
        address provider;
        uint256 pricePerMonth;
        uint256 months;
        uint256 total;
        /// @dev Expiry if bought now (a new subscription).
        uint256 expiresAt;
        uint256 cancellationFeeBps;
    }

    struct NodeEarnings {
        /// @dev Held for live subscriptions and not yet released.
        uint256 unreleased;
        /// @dev Released to the provider so far (as of now, or of the node's termination).
        uint256 earned;
        uint256 withdrawn;
        uint256 withdrawable;
    }

    /// @dev Why a renewal would not go through; `None` means it would.
    enum RenewalBlocker {
        None,
        NoSubscription,
        NotOptedIn,
        OutsideWindow,
        NodeNotTrusted,
        PriceAboveMaximum,
        InsufficientAllowance,
        InsufficientBalance,
        Paused
    }

    /// @dev What an `approveAndCall` purchase asks for, ABI-encoded in its `data`.
    enum ApprovalAction {
        Subscribe,
        Extend
    }

    /// @dev The client key's consent to be served under a subscription that another account
    /// owns: its EIP-712 signature of `ClientConsent(bytes32 nodeId,address owner,uint256
    /// deadline)` in this escrow's domain (see {clientConsentDigest}). Without it anyone could
    /// occupy a stranger's client id. Leave `signature` empty when the client key itself pays.
    struct ClientConsent {
        uint256 deadline;
        bytes signature;
    }

    /// @dev An EIP-2612 permit of the payment token for the purchase's total.
    struct Permit {
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @dev The `data` of an `approveAndCall` purchase of a new subscription:
    /// `abi.encode(ApprovalRequest)` with `action` Subscribe. Only ever ABI-decoded into memory,
    /// so its order follows the purchase's arguments.
    // solhint-disable-next-line gas-struct-packing
    struct ApprovalRequest {
        uint8 action;
        bytes32 nodeId;
        address clientId;
        uint256 months;
        uint256 maxPricePerMonth;
        uint256 maxFeeBps;
        ClientConsent consent;
    }

    /// @dev The `data` of an `approveAndCall` extension: `abi.encode(ExtensionRequest)` with
    /// `action` Extend and the subscription's current record. The escrow tells the two requests
    /// apart by their first word: an ApprovalRequest's encoding starts with its offset (0x20),
    /// an ExtensionRequest's, being static, with its action (1).
    // solhint-disable-next-line gas-struct-packing
    struct ExtensionRequest {
        uint8 action;
        bytes32 nodeId;
        address clientId;
        uint256 months;
        uint256 maxPricePerMonth;
        Subscription subscription;
    }

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    /// @dev `subscription` is the record as stored (its `paid` is the amount pulled).
    event Subscribed(
        bytes32 indexed nodeId,
        address indexed clientId,
        address indexed owner,
        uint256 months,
        uint256 pricePerMonth,
        Subscription subscription
    );
    /// @dev `amount` is what was pulled; `subscription` is the record as stored afterwards.
    event Extended(
        bytes32 indexed nodeId,
        address indexed clientId,
        address indexed payer,
        uint256 months,
        uint256 pricePerMonth,
        uint256 amount,
        Subscription subscription
    );
    event Cancelled(
        bytes32 indexed nodeId, address indexed clientId, address indexed owner, uint256 refund, uint256 fee
    );
    /// @dev The record moved unchanged from the old client id to the new one.
    event ClientIdChanged(
        bytes32 indexed nodeId, address indexed oldClientId, address indexed newClientId, Subscription subscription
    );
    /// @dev `subscription` is the record as stored afterwards (its renewal settings changed).
    event AutoRenewSet(bytes32 indexed nodeId, address indexed clientId, Subscription subscription);
    event Withdrawn(bytes32 indexed nodeId, address indexed provider, address indexed payout, uint256 amount);
    event CancellationFeeSet(address indexed provider, uint256 feeBps);
    /// @dev `throughDay`: the first day (timestamp / 1 days) whose expiries are not processed yet.
    event ExpiriesProcessed(bytes32 indexed nodeId, uint256 throughDay, uint256 released);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    error ZeroAddress();
    error InvalidMonths(uint256 months, uint256 maxMonths);
    /// @dev Prepaid time is capped so that a subscription never reaches further than this.
    error ExpiryTooFar(uint256 expiresAt, uint256 maxExpiresAt);
    error LengthMismatch(uint256 nodeIds, uint256 clientIds);
    error NodeNotTrusted(bytes32 nodeId);
    error PriceAboveMaximum(bytes32 nodeId, uint256 pricePerMonth, uint256 maxPricePerMonth);
    error AmountTooLarge(uint256 amount, uint256 maxAmount);
    error SubscriptionIsActive(bytes32 nodeId, address clientId, uint256 expiresAt);
    error NoSubscription(bytes32 nodeId, address clientId);
    /// @dev The record passed is not the one stored for (nodeId, clientId): stale or made up.
    error SubscriptionRecordMismatch(bytes32 nodeId, address clientId);
    error SubscriptionNotActive(bytes32 nodeId, address clientId, uint256 expiresAt);
    error NotSubscriptionOwner(bytes32 nodeId, address clientId, address caller, address owner);
    error ClientIdTaken(bytes32 nodeId, address clientId);
    error CallerNotToken(address caller, address token);
    error WrongToken(address token, address expected);
    error ApprovedAmountMismatch(uint256 approved, uint256 required);
    error InvalidApprovalData();
    /// @dev The token moved a different amount than asked (fee-on-transfer tokens are refused).
    error ReceivedAmountMismatch(uint256 expected, uint256 received);
    error TokenTransferFailed(address token, address from, address to, uint256 amount);
    error FeeTooHigh(uint256 feeBps, uint256 maxFeeBps);
    error NotAProvider(address caller);
    error NotNodeProvider(bytes32 nodeId, address caller);
    error NothingToWithdraw(bytes32 nodeId);
    error RenewalNotPossible(bytes32 nodeId, address clientId, RenewalBlocker reason);
    error NotCurator(address caller);
    /// @dev The provider's cancellation fee is above what the buyer accepted.
    error CancellationFeeAboveMaximum(address provider, uint256 feeBps, uint256 maxFeeBps);
    error ClientConsentExpired(uint256 deadline, uint256 nowTimestamp);
    /// @dev The consent was not signed by the client key (`recovered` is zero when malformed).
    error InvalidClientConsent(address clientId, address recovered);

    // ------------------------------------------------------------------------------------------
    // Buying
    // ------------------------------------------------------------------------------------------

    /// @notice Buy `months` of a trusted node's service for `clientId`, paid by the caller, who
    /// must have approved the escrow for the total.
    /// @param maxPricePerMonth Reverts if the node's price is above this (never overcharges).
    /// @param maxFeeBps Reverts if the provider's cancellation fee is above this.
    /// @param consent The client key's consent to the caller owning its subscription (empty
    /// signature when the caller is `clientId`).
    /// @return The record as stored.
    function subscribe(
        bytes32 nodeId,
        address clientId,
        uint256 months,
        uint256 maxPricePerMonth,
        uint256 maxFeeBps,
        ClientConsent calldata consent
    ) external returns (Subscription memory);

    /// @notice `subscribe` with an EIP-2612 permit for the total, in one transaction.
    /// @dev A permit already used by a front-runner is tolerated when the allowance is in place.
    function subscribeWithPermit(
        bytes32 nodeId,
        address clientId,
        uint256 months,
        uint256 maxPricePerMonth,
        uint256 maxFeeBps,
        ClientConsent calldata consent,
        Permit calldata permit
    ) external returns (Subscription memory);

    /// @notice Add `months` to a subscription, at any time: after the current expiry, or from now
    /// if it has lapsed. Owner only; paid at the node's current price.
    /// @param subscription The current record (from the last event about it).
    /// @return The record as stored afterwards.
    function extend(
        bytes32 nodeId,
        address clientId,
        Subscription calldata subscription,
        uint256 months,
        uint256 maxPricePerMonth
    ) external returns (Subscription memory);

    /// @notice MiniMe `approveAndCall` entry point: one-transaction subscribe or extend.
    /// @param from The account that approved and pays.
    /// @param amount The approved amount; must equal the price of what `data` asks for.
    /// @param token Must be the payment token, and the caller.
    /// @param data `abi.encode(ApprovalRequest)` to subscribe, `abi.encode(ExtensionRequest)` to extend.
    function receiveApproval(address from, uint256 amount, address token, bytes calldata data) external;

    // ------------------------------------------------------------------------------------------
    // Managing
    // ------------------------------------------------------------------------------------------

    /// @notice Cancel and take back the unserved part, minus the fee locked at purchase. There is
    /// no fee when the node is no longer trusted (provider suspended or removed, node removed or
    /// inactive, kind disabled).
    function cancel(bytes32 nodeId, address clientId, Subscription calldata subscription) external;

    /// @notice Move a subscription to another client key (owner only), with that key's consent
    /// (empty signature when the caller is `newClientId`).
    function setClientId(
        bytes32 nodeId,
        address clientId,
        Subscription calldata subscription,
        address newClientId,
        ClientConsent calldata consent
    ) external;

    /// @notice Opt in to (months > 0) or out of (months = 0) automatic renewal (owner only).
    /// @return The record as stored afterwards.
    function setAutoRenew(
        bytes32 nodeId,
        address clientId,
        Subscription calldata subscription,
        uint256 months,
        uint256 maxPricePerMonth
    ) external returns (Subscription memory);

    /// @notice Renew an opted-in subscription in the window before its expiry, paid from the
    /// owner's allowance. Anyone may call it.
    /// @return The record as stored afterwards.
    function renew(bytes32 nodeId, address clientId, Subscription calldata subscription)
        external
        returns (Subscription memory);

    // ------------------------------------------------------------------------------------------
    // Providers
    // ------------------------------------------------------------------------------------------

    /// @notice Set the caller's cancellation fee for future purchases (at most 10%).
    function setCancellationFee(uint256 feeBps) external;

    /// @notice Pay a node's released funds to its provider's payout address (node's provider only).
    /// @dev Costs the same whatever the number of subscribers.
    function withdraw(bytes32 nodeId) external returns (uint256 amount);

    /// @notice Release the funds of subscriptions that have ended, at most `maxDays` days with
    /// expiries at a time. Anyone may call it; `withdraw` does it as well.
    function processExpiries(bytes32 nodeId, uint256 maxDays) external;

    // ------------------------------------------------------------------------------------------
    // Curators
    // ------------------------------------------------------------------------------------------

    /// @notice Stop new purchases, extensions and renewals (registry curator only). Refunds and
    /// withdrawals keep working.
    function pause() external;

    /// @notice Undo `pause` (registry curator only).
    function unpause() external;

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The EIP-712 digest (domain `SubscriptionEscrow` version `1`) a client key signs to
    /// consent to `owner` holding its subscription to `nodeId`, valid until `deadline`.
    function clientConsentDigest(bytes32 nodeId, address owner, uint256 deadline) external view returns (bytes32);

    /// @notice Whether the node's subscribers still hold unserved paid time (the registry refuses
    /// to deactivate such a node).
    function holdsUnservedFunds(bytes32 nodeId) external view returns (bool);

    /// @notice The payment token.
    function token() external view returns (address);

    /// @notice The registry this escrow sells the nodes of.
    function registry() external view returns (address);

    /// @notice What is stored for (nodeId, clientId): zero when nothing, else
    /// `uint256(keccak256(abi.encode(subscription))) << 40 | subscription.expiresAt`.
    function subscriptionCommitment(bytes32 nodeId, address clientId) external view returns (uint256);

    /// @notice Whether `subscription` is the record stored for (nodeId, clientId).
    function isCurrent(bytes32 nodeId, address clientId, Subscription calldata subscription)
        external
        view
        returns (bool);

    /// @notice Whether it is active, when it ends, months left and what cancelling now pays back
    /// (all zero when nothing is stored; reverts when `subscription` is not the stored record).
    function status(bytes32 nodeId, address clientId, Subscription calldata subscription)
        external
        view
        returns (SubscriptionStatus memory);

    /// @notice Price of `months` of a node's service bought now.
    function quote(bytes32 nodeId, uint256 months) external view returns (Quote memory);

    /// @notice Expiry times for many (node id, client id) pairs (0 when none; past when lapsed).
    function expiries(bytes32[] calldata nodeIds, address[] calldata clientIds)
        external
        view
        returns (uint256[] memory);

    /// @notice Whether `renew` would go through now, and why not.
    /// @dev Reverts when something is stored and `subscription` is not it.
    function renewalCheck(bytes32 nodeId, address clientId, Subscription calldata subscription)
        external
        view
        returns (RenewalBlocker);

    /// @notice A node's released, withdrawn and withdrawable funds.
    function nodeEarnings(bytes32 nodeId) external view returns (NodeEarnings memory);

    /// @notice A provider's released, withdrawn and withdrawable funds over all its sold nodes.
    function providerEarnings(address provider) external view returns (NodeEarnings memory);

    /// @notice Node ids of a provider that ever sold a subscription here.
    function soldNodes(address provider) external view returns (bytes32[] memory);

    /// @notice The provider's cancellation fee for new purchases, in basis points.
    function cancellationFeeBps(address provider) external view returns (uint256);

    /// @notice Whether purchases, extensions and renewals are paused.
    function paused() external view returns (bool);

}
