// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IMailServerRegistry} from "./interfaces/IMailServerRegistry.sol";
import {ISubscriptionEscrow} from "./interfaces/ISubscriptionEscrow.sol";

/// @title SubscriptionEscrow
/// @notice Prepaid subscriptions to the nodes of a MailServerRegistry, paid in one ERC-20 token.
///
/// How funds are released without looping over subscribers: each subscription releases its
/// `paid` amount linearly over its segment [start, expiresAt] at `rate = paid * PRECISION /
/// (expiresAt - start)`. What a node has earned by time t is a line in t: with `rateSum` the sum
/// of its live rates and `earnedOffset` everything else (all payments in minus refunds out,
/// scaled by PRECISION, minus the live `rate * expiresAt`), `earned(t) * PRECISION =
/// earnedOffset + rateSum * t`. Both fit in one slot, so a purchase, an extension or a
/// cancellation writes one slot of the node's books.
///
/// A subscription stops releasing at its expiry. Expiries fall on UTC day boundaries (a
/// purchase's end is rounded up to the next midnight, so the buyer gets up to a day more than
/// paid for), which lets one storage slot per node and day ("bucket", flagged in a bitmap) hold
/// everything needed to take that day's expiries off the line exactly (`rateSum` loses the
/// day's rates, `earnedOffset` gains them times that midnight). Past days are folded a bucket at
/// a time: the cost grows with the number of days that had expiries, never with the number of
/// subscribers.
///
/// A subscription takes one storage slot: a commitment to its record (the record's hash and its
/// expiry). The record itself travels in events and comes back as calldata when it is managed,
/// which saves a slot written on every purchase and a slot read on every call.
///
/// Rounding always favours solvency: what the node still holds is rounded up, what a single
/// subscription can get back is rounded down. So `token balance == unreleased + withdrawable`
/// holds exactly, and every refund fits in what is held.
contract SubscriptionEscrow is ISubscriptionEscrow, EIP712, Pausable, ReentrancyGuardTransient {
    using SafeCast for uint256;

    /// @notice Length of the month that prices are quoted for.
    uint256 public constant MONTH = 30 days;
    /// @notice Most months one purchase can buy.
    uint256 public constant MAX_MONTHS = 24;
    /// @notice Prepaid time never reaches further than this from now (bounds a release segment).
    uint256 public constant MAX_PREPAID = 2 * MAX_MONTHS * MONTH;
    /// @notice Highest cancellation fee a provider can set, in basis points of the refund.
    uint256 public constant MAX_CANCELLATION_FEE_BPS = 1_000;
    /// @notice How long before expiry an opted-in subscription can be renewed.
    uint256 public constant RENEWAL_WINDOW = 3 days;

    /// @notice EIP-712 type hash of a client key's consent.
    bytes32 public constant CLIENT_CONSENT_TYPEHASH =
        keccak256("ClientConsent(bytes32 nodeId,address owner,uint256 deadline)");

    bytes32 private constant CURATOR_ROLE = keccak256("CURATOR_ROLE");
    uint256 private constant BPS = 10_000;
    /// @dev Scale of release rates. Larger than the longest segment in seconds (MAX_PREPAID plus
    /// a day), so flooring a rate loses less than one token unit over the whole segment.
    uint256 private constant PRECISION = 1 << 32;

    /// @dev A node's books, two slots. Slot 0 changes on every purchase, extension and
    /// cancellation; slot 1 only when expiries are processed, on withdrawals and on the node's
    /// first sale (running subscriptions never need `processedDay`, see {_isLive}).
    struct NodeStream {
        // slot 0: the earnings line. A segment lasts at least a month (2^21 s) and PRECISION is
        // 2^32, so a rate is below 2^11 times its paid amount: 2^104 bounds the rates of 2^93
        // token units held for one node. |earnedOffset| stays below 2^104 * 2^40 + held * 2^32.
        uint104 rateSum;
        int152 earnedOffset;
        // slot 1: every expiry day before `processedDay` is folded into slot 0
        uint128 withdrawn;
        uint32 processedDay;
        bool listed;
    }

    /// @dev Live subscriptions of one node that expire at one midnight (their `rate * end` sum
    /// is `rateSum * that midnight`, so one slot is enough; `paidSum` is what they were paid,
    /// reported when the day is processed).
    struct ExpiryBucket {
        uint128 rateSum;
        uint128 paidSum;
    }

    /// @dev A node's terms, read from the registry once per call.
    struct Terms {
        address provider;
        bool trusted;
        uint256 pricePerMonth;
    }

    /// @dev The amounts of one release segment, computed once and reused.
    struct Segment {
        uint256 rate;
        uint256 start;
        uint256 end;
        uint256 paid;
    }

    IMailServerRegistry private immutable _registry;
    IERC20 private immutable _token;

    /// @dev Keyed by keccak256(nodeId, clientId): `hash << 40 | expiresAt` (see {_commitment}).
    /// The expiry sits in the low bits so that {expiries} and the key's reuse need no record.
    mapping(bytes32 key => uint256 commitment) private _subscriptions;
    mapping(bytes32 nodeId => NodeStream) private _streams;
    mapping(bytes32 nodeId => mapping(uint256 day => ExpiryBucket)) private _buckets;
    mapping(bytes32 nodeId => mapping(uint256 word => uint256 bits)) private _expiryDays;
    mapping(address provider => bytes32[]) private _soldNodes;
    mapping(address provider => uint16) private _cancellationFeeBps;

    /// @param registry_ The registry whose trusted nodes are sold and whose curators may pause.
    /// @param token_ The payment token (SNT on mainnet).
    constructor(address registry_, address token_) EIP712("SubscriptionEscrow", "1") {
        if (registry_ == address(0) || token_ == address(0)) revert ZeroAddress();
        _registry = IMailServerRegistry(registry_);
        _token = IERC20(token_);
    }

    // ------------------------------------------------------------------------------------------
    // Buying
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISubscriptionEscrow
    function subscribe(
        bytes32 nodeId,
        address clientId,
        uint256 months,
        uint256 maxPricePerMonth,
        uint256 maxFeeBps,
        ClientConsent calldata consent
    ) external whenNotPaused nonReentrant returns (Subscription memory) {
        _checkConsent(nodeId, clientId, msg.sender, consent);
        return _subscribe(msg.sender, nodeId, clientId, months, maxPricePerMonth, maxFeeBps, _readTerms(nodeId));
    }

    /// @inheritdoc ISubscriptionEscrow
    function subscribeWithPermit(
        bytes32 nodeId,
        address clientId,
        uint256 months,
        uint256 maxPricePerMonth,
        uint256 maxFeeBps,
        ClientConsent calldata consent,
        Permit calldata permit
    ) external whenNotPaused nonReentrant returns (Subscription memory) {
        _checkMonths(months);
        _checkConsent(nodeId, clientId, msg.sender, consent);
        Terms memory terms = _readTerms(nodeId);
        // A permit that a front-runner already submitted fails here; the allowance it set is what
        // the transfer needs, so the purchase goes on and fails only if the allowance is missing.
        try IERC20Permit(address(_token)).permit(
            msg.sender, address(this), terms.pricePerMonth * months, permit.deadline, permit.v, permit.r, permit.s
        ) {} catch {}
        return _subscribe(msg.sender, nodeId, clientId, months, maxPricePerMonth, maxFeeBps, terms);
    }

    /// @inheritdoc ISubscriptionEscrow
    function extend(
        bytes32 nodeId,
        address clientId,
        Subscription calldata subscription,
        uint256 months,
        uint256 maxPricePerMonth
    ) external whenNotPaused nonReentrant returns (Subscription memory) {
        Subscription memory sub = _requireOwner(nodeId, clientId, subscription, msg.sender);
        return _extend(msg.sender, nodeId, clientId, sub, months, maxPricePerMonth, _readTerms(nodeId));
    }

    /// @inheritdoc ISubscriptionEscrow
    function receiveApproval(address from, uint256 amount, address token_, bytes calldata data)
        external
        whenNotPaused
        nonReentrant
    {
        if (msg.sender != address(_token)) revert CallerNotToken(msg.sender, address(_token));
        if (token_ != address(_token)) revert WrongToken(token_, address(_token));
        // ApprovalRequest has a dynamic member, so its encoding starts with its offset (0x20);
        // ExtensionRequest is static and starts with its action (Extend = 1). The lengths below
        // are the shortest valid encodings; anything shorter would make abi.decode revert
        // without a reason.
        if (data.length < 32) revert InvalidApprovalData();
        uint256 head = uint256(bytes32(data[:32]));
        if (head == 0x20) {
            if (data.length < 352) revert InvalidApprovalData();
            ApprovalRequest memory req = abi.decode(data, (ApprovalRequest));
            if (req.action != uint8(ApprovalAction.Subscribe)) revert InvalidApprovalData();
            Terms memory terms = _readTerms(req.nodeId);
            _checkApprovedAmount(amount, terms, req.months);
            _checkConsent(req.nodeId, req.clientId, from, req.consent);
            _subscribe(from, req.nodeId, req.clientId, req.months, req.maxPricePerMonth, req.maxFeeBps, terms);
        } else if (head == uint8(ApprovalAction.Extend)) {
            if (data.length < 384) revert InvalidApprovalData();
            ExtensionRequest memory req = abi.decode(data, (ExtensionRequest));
            Subscription memory sub = _requireOwner(req.nodeId, req.clientId, req.subscription, from);
            Terms memory terms = _readTerms(req.nodeId);
            _checkApprovedAmount(amount, terms, req.months);
            _extend(from, req.nodeId, req.clientId, sub, req.months, req.maxPricePerMonth, terms);
        } else {
            revert InvalidApprovalData();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Managing
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISubscriptionEscrow
    function cancel(bytes32 nodeId, address clientId, Subscription calldata subscription) external nonReentrant {
        Subscription memory sub = _requireOwner(nodeId, clientId, subscription, msg.sender);
        (, bool trusted, uint40 terminated) = _registry.nodeStanding(nodeId);
        uint256 at = _effectiveTime(terminated);
        NodeStream storage stream = _streams[nodeId];

        bool live = _isLive(stream, sub, at);
        bool freeAndRunning = sub.paid == 0 && block.timestamp < sub.expiresAt;
        if (!(live && at < sub.expiresAt) && !freeAndRunning) {
            revert SubscriptionNotActive(nodeId, clientId, sub.expiresAt);
        }

        uint256 refund;
        uint256 fee;
        if (live) {
            Segment memory seg = _segment(sub);
            uint256 unserved = _unserved(seg, at);
            fee = trusted ? (unserved * sub.cancellationFeeBps) / BPS : 0;
            refund = unserved - fee;
            _removeFromStream(nodeId, stream, seg, refund);
        }
        delete _subscriptions[_key(nodeId, clientId)];
        emit Cancelled(nodeId, clientId, sub.owner, refund, fee);

        if (refund != 0) _pay(sub.owner, refund);
    }

    /// @inheritdoc ISubscriptionEscrow
    function setClientId(
        bytes32 nodeId,
        address clientId,
        Subscription calldata subscription,
        address newClientId,
        ClientConsent calldata consent
    ) external {
        if (newClientId == address(0)) revert ZeroAddress();
        Subscription memory sub = _requireOwner(nodeId, clientId, subscription, msg.sender);
        // Onto itself would write the commitment and then delete it (one slot): refused, like any
        // other key that is taken.
        if (newClientId == clientId) revert ClientIdTaken(nodeId, newClientId);
        _checkConsent(nodeId, newClientId, msg.sender, consent);
        bytes32 newKey = _key(nodeId, newClientId);
        (,, uint40 terminated) = _registry.nodeStanding(nodeId);
        if (_isTaken(_subscriptions[newKey], _effectiveTime(terminated))) revert ClientIdTaken(nodeId, newClientId);

        // The record does not name its client id and the release sums depend on the segment only,
        // so moving the commitment is enough.
        bytes32 key = _key(nodeId, clientId);
        _subscriptions[newKey] = _subscriptions[key];
        delete _subscriptions[key];
        emit ClientIdChanged(nodeId, clientId, newClientId, sub);
    }

    /// @inheritdoc ISubscriptionEscrow
    function setAutoRenew(
        bytes32 nodeId,
        address clientId,
        Subscription calldata subscription,
        uint256 months,
        uint256 maxPricePerMonth
    ) external returns (Subscription memory sub) {
        sub = _requireOwner(nodeId, clientId, subscription, msg.sender);
        if (months > MAX_MONTHS) revert InvalidMonths(months, MAX_MONTHS);
        sub.renewMonths = uint8(months);
        sub.renewMaxPricePerMonth = months == 0 ? 0 : maxPricePerMonth.toUint96();
        _subscriptions[_key(nodeId, clientId)] = _commitment(sub);
        emit AutoRenewSet(nodeId, clientId, sub);
    }

    /// @inheritdoc ISubscriptionEscrow
    function renew(bytes32 nodeId, address clientId, Subscription calldata subscription)
        external
        whenNotPaused
        nonReentrant
        returns (Subscription memory)
    {
        Subscription memory sub = subscription;
        uint256 stored = _storedUnlessOther(nodeId, clientId, sub);
        (RenewalBlocker reason, Terms memory terms) = _renewal(nodeId, stored, sub);
        if (reason != RenewalBlocker.None) revert RenewalNotPossible(nodeId, clientId, reason);
        return _extend(sub.owner, nodeId, clientId, sub, sub.renewMonths, sub.renewMaxPricePerMonth, terms);
    }

    // ------------------------------------------------------------------------------------------
    // Providers
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISubscriptionEscrow
    function setCancellationFee(uint256 feeBps) external {
        if (feeBps > MAX_CANCELLATION_FEE_BPS) revert FeeTooHigh(feeBps, MAX_CANCELLATION_FEE_BPS);
        (, IMailServerRegistry.ProviderStatus providerStatus) = _registry.providerPayout(msg.sender);
        if (
            providerStatus == IMailServerRegistry.ProviderStatus.None
                || providerStatus == IMailServerRegistry.ProviderStatus.Removed
        ) revert NotAProvider(msg.sender);
        _cancellationFeeBps[msg.sender] = uint16(feeBps);
        emit CancellationFeeSet(msg.sender, feeBps);
    }

    /// @inheritdoc ISubscriptionEscrow
    function withdraw(bytes32 nodeId) external nonReentrant returns (uint256 amount) {
        (address provider,, uint40 terminated) = _registry.nodeStanding(nodeId);
        if (provider != msg.sender) revert NotNodeProvider(nodeId, msg.sender);
        uint256 at = _effectiveTime(terminated);
        NodeStream storage stream = _streams[nodeId];
        _processExpiries(nodeId, stream, at, type(uint256).max);

        amount = _earnedAt(stream.rateSum, stream.earnedOffset, at) - stream.withdrawn;
        if (amount == 0) revert NothingToWithdraw(nodeId);
        stream.withdrawn += amount.toUint128();

        (address payout,) = _registry.providerPayout(provider);
        emit Withdrawn(nodeId, provider, payout, amount);
        _pay(payout, amount);
    }

    /// @inheritdoc ISubscriptionEscrow
    function processExpiries(bytes32 nodeId, uint256 maxDays) external {
        (,, uint40 terminated) = _registry.nodeStanding(nodeId);
        _processExpiries(nodeId, _streams[nodeId], _effectiveTime(terminated), maxDays);
    }

    // ------------------------------------------------------------------------------------------
    // Curators
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISubscriptionEscrow
    function pause() external {
        _requireCurator();
        _pause();
    }

    /// @inheritdoc ISubscriptionEscrow
    function unpause() external {
        _requireCurator();
        _unpause();
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISubscriptionEscrow
    function clientConsentDigest(bytes32 nodeId, address owner, uint256 deadline) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CLIENT_CONSENT_TYPEHASH, nodeId, owner, deadline)));
    }

    /// @inheritdoc ISubscriptionEscrow
    function holdsUnservedFunds(bytes32 nodeId) external view returns (bool) {
        // A live segment always has a rate (paid * 2^32 over less than 2^32 seconds).
        (,, uint40 terminated) = _registry.nodeStanding(nodeId);
        (uint256 rateSum,,) = _foldedLine(nodeId, _effectiveTime(terminated));
        return rateSum != 0;
    }

    /// @inheritdoc ISubscriptionEscrow
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ISubscriptionEscrow
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc ISubscriptionEscrow
    function paused() public view override(ISubscriptionEscrow, Pausable) returns (bool) {
        return super.paused();
    }

    /// @inheritdoc ISubscriptionEscrow
    function subscriptionCommitment(bytes32 nodeId, address clientId) external view returns (uint256) {
        return _subscriptions[_key(nodeId, clientId)];
    }

    /// @inheritdoc ISubscriptionEscrow
    function isCurrent(bytes32 nodeId, address clientId, Subscription calldata subscription)
        external
        view
        returns (bool)
    {
        uint256 stored = _subscriptions[_key(nodeId, clientId)];
        return stored != 0 && stored == _commitment(subscription);
    }

    /// @inheritdoc ISubscriptionEscrow
    function status(bytes32 nodeId, address clientId, Subscription calldata subscription)
        external
        view
        returns (SubscriptionStatus memory result)
    {
        Subscription memory sub = subscription;
        if (_storedUnlessOther(nodeId, clientId, sub) == 0) return result;
        (, bool trusted, uint40 terminated) = _registry.nodeStanding(nodeId);
        result.owner = sub.owner;
        result.expiresAt = sub.expiresAt;
        result.active = terminated == 0 && block.timestamp < sub.expiresAt;
        if (result.active) result.monthsLeft = _monthsLeft(sub.expiresAt - block.timestamp);

        uint256 at = _effectiveTime(terminated);
        if (_isLive(_streams[nodeId], sub, at) && at < sub.expiresAt) {
            uint256 unserved = _unserved(_segment(sub), at);
            result.cancellationFeeNow = trusted ? (unserved * sub.cancellationFeeBps) / BPS : 0;
            result.refundableNow = unserved - result.cancellationFeeNow;
        }
    }

    /// @inheritdoc ISubscriptionEscrow
    function quote(bytes32 nodeId, uint256 months) external view returns (Quote memory result) {
        _checkMonths(months);
        (address provider, uint96 pricePerMonth, bool trusted,) = _registry.nodeTerms(nodeId);
        result.trusted = trusted;
        result.provider = provider;
        result.pricePerMonth = pricePerMonth;
        result.months = months;
        result.total = uint256(pricePerMonth) * months;
        result.expiresAt = _endOfDay(block.timestamp + months * MONTH);
        result.cancellationFeeBps = _cancellationFeeBps[provider];
    }

    /// @inheritdoc ISubscriptionEscrow
    function expiries(bytes32[] calldata nodeIds, address[] calldata clientIds)
        external
        view
        returns (uint256[] memory result)
    {
        if (nodeIds.length != clientIds.length) revert LengthMismatch(nodeIds.length, clientIds.length);
        result = new uint256[](nodeIds.length);
        for (uint256 i = 0; i < nodeIds.length; ++i) {
            result[i] = uint40(_subscriptions[_key(nodeIds[i], clientIds[i])]);
        }
    }

    /// @inheritdoc ISubscriptionEscrow
    function renewalCheck(bytes32 nodeId, address clientId, Subscription calldata subscription)
        external
        view
        returns (RenewalBlocker reason)
    {
        Subscription memory sub = subscription;
        (reason,) = _renewal(nodeId, _storedUnlessOther(nodeId, clientId, sub), sub);
    }

    /// @inheritdoc ISubscriptionEscrow
    function nodeEarnings(bytes32 nodeId) public view returns (NodeEarnings memory result) {
        (,, uint40 terminated) = _registry.nodeStanding(nodeId);
        uint256 at = _effectiveTime(terminated);
        (uint256 rateSum, int256 earnedOffset, uint256 toDay) = _foldedLine(nodeId, at);
        result.earned = _earnedAt(rateSum, earnedOffset, at);
        result.withdrawn = _streams[nodeId].withdrawn;
        result.withdrawable = result.earned - result.withdrawn;
        // What is still held: the live rates times the time to their ends, rounded up. Their ends
        // are the buckets after `at`; every one was bought by `at` (a terminated node sells
        // nothing), so it lies at most MAX_PREPAID plus the rounding day after it.
        if (rateSum != 0) {
            uint256 lastDay = (at + MAX_PREPAID) / 1 days + 1;
            uint256 rateEndSum;
            for (uint256 day = toDay; ; ++day) {
                day = _nextExpiryDay(nodeId, day, lastDay + 1);
                if (day > lastDay) break;
                rateEndSum += uint256(_buckets[nodeId][day].rateSum) * (day * 1 days);
            }
            result.unreleased = Math.ceilDiv(rateEndSum - rateSum * at, PRECISION);
        }
    }

    /// @inheritdoc ISubscriptionEscrow
    function providerEarnings(address provider) external view returns (NodeEarnings memory total) {
        bytes32[] storage nodes = _soldNodes[provider];
        for (uint256 i = 0; i < nodes.length; ++i) {
            NodeEarnings memory one = nodeEarnings(nodes[i]);
            total.unreleased += one.unreleased;
            total.earned += one.earned;
            total.withdrawn += one.withdrawn;
            total.withdrawable += one.withdrawable;
        }
    }

    /// @inheritdoc ISubscriptionEscrow
    function soldNodes(address provider) external view returns (bytes32[] memory) {
        return _soldNodes[provider];
    }

    /// @inheritdoc ISubscriptionEscrow
    function cancellationFeeBps(address provider) external view returns (uint256) {
        return _cancellationFeeBps[provider];
    }

    // ------------------------------------------------------------------------------------------
    // Internal: purchases
    // ------------------------------------------------------------------------------------------

    function _subscribe(
        address payer,
        bytes32 nodeId,
        address clientId,
        uint256 months,
        uint256 maxPricePerMonth,
        uint256 maxFeeBps,
        Terms memory terms
    ) internal returns (Subscription memory sub) {
        // The client id was checked with its consent (never zero).
        uint256 amount = _checkPurchase(nodeId, terms, months, maxPricePerMonth);
        address provider = terms.provider;
        uint16 feeBps = _cancellationFeeBps[provider];
        if (feeBps > maxFeeBps) revert CancellationFeeAboveMaximum(provider, feeBps, maxFeeBps);

        // A lapsed subscription under the key is simply overwritten: its segment stays in its
        // expiry bucket, which releases it to the provider. A trusted node is never terminated,
        // so now is the effective time.
        bytes32 key = _key(nodeId, clientId);
        uint256 stored = _subscriptions[key];
        if (_isTaken(stored, block.timestamp)) revert SubscriptionIsActive(nodeId, clientId, uint40(stored));

        uint256 expiresAt = _endOfDay(block.timestamp + months * MONTH);
        NodeStream storage stream = _streams[nodeId];
        // A node with a non-zero line has sold before: only a zero line needs the `listed` slot.
        if (stream.rateSum == 0 && stream.earnedOffset == 0 && !stream.listed) _listNode(nodeId, provider, stream);

        sub.owner = payer;
        sub.start = uint40(block.timestamp);
        sub.expiresAt = uint40(expiresAt);
        sub.cancellationFeeBps = feeBps;
        sub.paid = uint96(amount); // checked against type(uint96).max by _checkPurchase
        _subscriptions[key] = _commitment(sub);
        if (amount != 0) _addToStream(nodeId, stream, _segmentOf(amount, block.timestamp, expiresAt));
        emit Subscribed(nodeId, clientId, payer, months, terms.pricePerMonth, sub);

        _pull(payer, amount);
    }

    /// @dev `sub` is the current record, owned by `payer`; returns the record as stored.
    function _extend(
        address payer,
        bytes32 nodeId,
        address clientId,
        Subscription memory sub,
        uint256 months,
        uint256 maxPricePerMonth,
        Terms memory terms
    ) internal returns (Subscription memory) {
        uint256 amount = _checkPurchase(nodeId, terms, months, maxPricePerMonth);
        uint256 expiresAt = _extendedExpiry(sub.expiresAt, months);

        uint256 paid = _resegment(nodeId, sub, amount, expiresAt);
        sub.start = uint40(block.timestamp);
        sub.expiresAt = uint40(expiresAt);
        sub.paid = uint96(paid);
        _subscriptions[_key(nodeId, clientId)] = _commitment(sub);
        emit Extended(nodeId, clientId, payer, months, terms.pricePerMonth, amount, sub);

        _pull(payer, amount);
        return sub;
    }

    /// @dev Closes the current segment at `now` (what it consumed is released) and opens one that
    /// spreads what is left plus `amount` over [now, expiresAt]: both buckets change, the node's
    /// line is written once. Returns the new segment's paid amount.
    function _resegment(bytes32 nodeId, Subscription memory sub, uint256 amount, uint256 expiresAt)
        internal
        returns (uint256 paid)
    {
        NodeStream storage stream = _streams[nodeId];
        (uint256 rateSum, int256 earnedOffset) = (stream.rateSum, stream.earnedOffset);
        uint256 carried;
        if (_isLive(stream, sub, block.timestamp)) {
            Segment memory old = _segment(sub);
            carried = _unserved(old, block.timestamp);
            _takeFromBucket(nodeId, old);
            (rateSum, earnedOffset) = _lineWithout(rateSum, earnedOffset, old, carried);
        }
        paid = carried + amount;
        if (paid > type(uint96).max) revert AmountTooLarge(paid, type(uint96).max);
        if (paid != 0) {
            Segment memory seg = _segmentOf(paid, block.timestamp, expiresAt);
            _addToBucket(nodeId, seg);
            (rateSum, earnedOffset) = _lineWith(rateSum, earnedOffset, seg);
        }
        _writeLine(stream, rateSum, earnedOffset);
    }

    /// @dev The expiry after adding `months` to one at `expiresAt` (from now if it lapsed).
    function _extendedExpiry(uint256 expiresAt, uint256 months) internal view returns (uint256 extended) {
        extended = _endOfDay(Math.max(expiresAt, block.timestamp) + months * MONTH);
        uint256 maxExpiresAt = _endOfDay(block.timestamp + MAX_PREPAID);
        if (extended > maxExpiresAt) revert ExpiryTooFar(extended, maxExpiresAt);
    }

    function _readTerms(bytes32 nodeId) internal view returns (Terms memory terms) {
        (terms.provider, terms.pricePerMonth, terms.trusted,) = _registry.nodeTerms(nodeId);
    }

    /// @dev Checks a purchase against the node's terms; returns the total to pay.
    function _checkPurchase(bytes32 nodeId, Terms memory terms, uint256 months, uint256 maxPricePerMonth)
        internal
        pure
        returns (uint256 amount)
    {
        _checkMonths(months);
        if (!terms.trusted) revert NodeNotTrusted(nodeId);
        if (terms.pricePerMonth > maxPricePerMonth) {
            revert PriceAboveMaximum(nodeId, terms.pricePerMonth, maxPricePerMonth);
        }
        amount = terms.pricePerMonth * months;
        if (amount > type(uint96).max) revert AmountTooLarge(amount, type(uint96).max);
    }

    /// @dev Why a renewal of `sub` would not go through now (`None`: it would), and the terms it
    /// would be bought at (read only once the cheaper checks pass).
    function _renewal(bytes32 nodeId, uint256 stored, Subscription memory sub)
        internal
        view
        returns (RenewalBlocker, Terms memory terms)
    {
        if (stored == 0) return (RenewalBlocker.NoSubscription, terms);
        if (sub.renewMonths == 0) return (RenewalBlocker.NotOptedIn, terms);
        if (paused()) return (RenewalBlocker.Paused, terms);
        if (block.timestamp >= sub.expiresAt || block.timestamp + RENEWAL_WINDOW < sub.expiresAt) {
            return (RenewalBlocker.OutsideWindow, terms);
        }
        terms = _readTerms(nodeId);
        if (!terms.trusted) return (RenewalBlocker.NodeNotTrusted, terms);
        if (terms.pricePerMonth > sub.renewMaxPricePerMonth) return (RenewalBlocker.PriceAboveMaximum, terms);
        uint256 amount = terms.pricePerMonth * sub.renewMonths;
        if (amount != 0) {
            if (_token.allowance(sub.owner, address(this)) < amount) return (RenewalBlocker.InsufficientAllowance, terms);
            if (_token.balanceOf(sub.owner) < amount) return (RenewalBlocker.InsufficientBalance, terms);
        }
        return (RenewalBlocker.None, terms);
    }

    /// @dev The client key agreed that `owner` holds its subscription to `nodeId` (no signature
    /// needed when the owner is the client key).
    /// Malleable (high-s) and malformed signatures are rejected by {ECDSA-tryRecover}.
    function _checkConsent(bytes32 nodeId, address clientId, address owner, ClientConsent memory consent)
        internal
        view
    {
        if (clientId == address(0)) revert ZeroAddress();
        if (clientId == owner) return;
        uint256 deadline = consent.deadline;
        bytes memory signature = consent.signature;
        if (signature.length == 0) revert InvalidClientConsent(clientId, address(0));
        if (block.timestamp > deadline) revert ClientConsentExpired(deadline, block.timestamp);
        (address recovered, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(clientConsentDigest(nodeId, owner, deadline), signature);
        if (err != ECDSA.RecoverError.NoError || recovered != clientId) revert InvalidClientConsent(clientId, recovered);
    }

    function _checkMonths(uint256 months) internal pure returns (uint256) {
        if (months == 0 || months > MAX_MONTHS) revert InvalidMonths(months, MAX_MONTHS);
        return months;
    }

    /// @dev An approveAndCall approval must match the price exactly: anything left over would stay
    /// approved, and MiniMe tokens refuse to change a non-zero allowance later.
    function _checkApprovedAmount(uint256 amount, Terms memory terms, uint256 months) internal pure {
        uint256 required = terms.pricePerMonth * _checkMonths(months);
        if (amount != required) revert ApprovedAmountMismatch(amount, required);
    }

    /// @dev Whether a key holding `stored` is still taken at `at` (now, or the node's termination):
    /// a subscription that ran out by then may be overwritten, one that still runs or that a
    /// termination cut short (its owner's refund) may not.
    function _isTaken(uint256 stored, uint256 at) internal pure returns (bool) {
        return stored != 0 && at < uint40(stored);
    }

    function _listNode(bytes32 nodeId, address provider, NodeStream storage stream) internal {
        stream.listed = true;
        stream.processedDay = uint32(block.timestamp / 1 days);
        _soldNodes[provider].push(nodeId);
    }

    // ------------------------------------------------------------------------------------------
    // Internal: release accounting
    // ------------------------------------------------------------------------------------------

    function _segment(Subscription memory sub) internal pure returns (Segment memory) {
        return _segmentOf(sub.paid, sub.start, sub.expiresAt);
    }

    function _segmentOf(uint256 paid, uint256 start, uint256 end) internal pure returns (Segment memory seg) {
        seg.paid = paid;
        seg.start = start;
        seg.end = end;
        seg.rate = (paid * PRECISION) / (end - start);
    }

    /// @dev What a segment still holds at `at`, rounded down (so refunds never exceed what the
    /// node's rounded-up sums still hold).
    function _unserved(Segment memory seg, uint256 at) internal pure returns (uint256) {
        if (at >= seg.end) return 0;
        return Math.min((seg.rate * (seg.end - at)) / PRECISION, seg.paid);
    }

    /// @dev Live means: paid, and its expiry day not yet folded into the node's line. A segment
    /// that has not ended by `at` is live without looking (days are folded only up to `at`).
    function _isLive(NodeStream storage stream, Subscription memory sub, uint256 at) internal view returns (bool) {
        return sub.paid != 0 && (at < sub.expiresAt || sub.expiresAt / 1 days >= stream.processedDay);
    }

    function _addToStream(bytes32 nodeId, NodeStream storage stream, Segment memory seg) internal {
        _addToBucket(nodeId, seg);
        (uint256 rateSum, int256 earnedOffset) = _lineWith(stream.rateSum, stream.earnedOffset, seg);
        _writeLine(stream, rateSum, earnedOffset);
    }

    /// @dev Takes a live segment off the line; `leaving` (a refund) leaves the node's books, the
    /// rest of what it was paid is earned.
    function _removeFromStream(bytes32 nodeId, NodeStream storage stream, Segment memory seg, uint256 leaving)
        internal
    {
        _takeFromBucket(nodeId, seg);
        (uint256 rateSum, int256 earnedOffset) = _lineWithout(stream.rateSum, stream.earnedOffset, seg, leaving);
        _writeLine(stream, rateSum, earnedOffset);
    }

    /// @dev The line with a new segment: its payment comes in, its rate runs until its end.
    function _lineWith(uint256 rateSum, int256 earnedOffset, Segment memory seg)
        internal
        pure
        returns (uint256, int256)
    {
        return (rateSum + seg.rate, earnedOffset + int256(seg.paid * PRECISION) - int256(seg.rate * seg.end));
    }

    /// @dev The line without a live segment, `leaving` of its payment going out (a refund, or
    /// what an extension carries into its next segment).
    function _lineWithout(uint256 rateSum, int256 earnedOffset, Segment memory seg, uint256 leaving)
        internal
        pure
        returns (uint256, int256)
    {
        return (rateSum - seg.rate, earnedOffset + int256(seg.rate * seg.end) - int256(leaving * PRECISION));
    }

    /// @dev The line once the rates ending at `day`'s midnight have ended (its earnings there
    /// are what they were paid, so `earnedOffset` takes over `rates * midnight`).
    function _lineAfter(uint256 rateSum, int256 earnedOffset, uint256 rates, uint256 day)
        internal
        pure
        returns (uint256, int256)
    {
        return (rateSum - rates, earnedOffset + int256(rates * (day * 1 days)));
    }

    function _writeLine(NodeStream storage stream, uint256 rateSum, int256 earnedOffset) internal {
        stream.rateSum = rateSum.toUint104();
        stream.earnedOffset = SafeCast.toInt152(earnedOffset);
    }

    function _addToBucket(bytes32 nodeId, Segment memory seg) internal {
        uint256 day = seg.end / 1 days;
        ExpiryBucket storage bucket = _buckets[nodeId][day];
        ExpiryBucket memory sums = bucket;
        // Below 2^128: a bucket's sums are parts of the node's (rates below 2^104, paid amounts
        // below 2^96 each).
        bucket.rateSum = sums.rateSum + uint128(seg.rate);
        bucket.paidSum = sums.paidSum + uint128(seg.paid);
        // A bucket that holds a paid segment has its day flagged already: only the day's first
        // segment reads the bitmap.
        if (sums.paidSum == 0) {
            uint256 bit = 1 << (day & 255);
            uint256 bits = _expiryDays[nodeId][day >> 8];
            if (bits & bit == 0) _expiryDays[nodeId][day >> 8] = bits | bit;
        }
    }

    function _takeFromBucket(bytes32 nodeId, Segment memory seg) internal {
        ExpiryBucket storage bucket = _buckets[nodeId][seg.end / 1 days];
        bucket.rateSum -= uint128(seg.rate);
        bucket.paidSum -= uint128(seg.paid);
    }

    /// @dev Folds the expiries at or before `at` into the line, at most `maxDays` days with
    /// expiries at a time.
    function _processExpiries(bytes32 nodeId, NodeStream storage stream, uint256 at, uint256 maxDays) internal {
        uint256 day = stream.processedDay;
        uint256 toDay = at / 1 days + 1;
        if (!stream.listed || day >= toDay) return;
        uint256 rateSum = stream.rateSum;
        int256 earnedOffset = stream.earnedOffset;
        uint256 released;
        uint256 done;
        while (true) {
            day = _nextExpiryDay(nodeId, day, toDay);
            if (day >= toDay || done == maxDays) break;
            ExpiryBucket memory bucket = _buckets[nodeId][day];
            (rateSum, earnedOffset) = _lineAfter(rateSum, earnedOffset, bucket.rateSum, day);
            released += bucket.paidSum;
            delete _buckets[nodeId][day];
            ++done;
            ++day;
        }
        stream.processedDay = uint32(day);
        if (done != 0) {
            _writeLine(stream, rateSum, earnedOffset);
            emit ExpiriesProcessed(nodeId, day, released);
        }
    }

    /// @dev The node's line with every expiry at or before `at` folded in (in memory, exactly as
    /// `_processExpiries` would in storage), and the first day not folded.
    function _foldedLine(bytes32 nodeId, uint256 at)
        internal
        view
        returns (uint256 rateSum, int256 earnedOffset, uint256 toDay)
    {
        NodeStream memory stream = _streams[nodeId];
        rateSum = stream.rateSum;
        earnedOffset = stream.earnedOffset;
        toDay = at / 1 days + 1;
        if (!stream.listed) return (rateSum, earnedOffset, toDay);
        for (uint256 day = stream.processedDay; ; ++day) {
            day = _nextExpiryDay(nodeId, day, toDay);
            if (day >= toDay) break;
            (rateSum, earnedOffset) = _lineAfter(rateSum, earnedOffset, _buckets[nodeId][day].rateSum, day);
        }
    }

    /// @dev The first day in [from, toDay) with expiries, or `toDay` if none.
    function _nextExpiryDay(bytes32 nodeId, uint256 from, uint256 toDay) internal view returns (uint256) {
        uint256 day = from;
        while (day < toDay) {
            uint256 bits = _expiryDays[nodeId][day >> 8] >> (day & 255);
            if (bits != 0) return Math.min(day + Math.log2(bits & (~bits + 1)), toDay);
            day = ((day >> 8) + 1) << 8;
        }
        return toDay;
    }

    /// @dev What the line says was earned by `at` (expiries up to `at` folded in), rounded down.
    function _earnedAt(uint256 rateSum, int256 earnedOffset, uint256 at) internal pure returns (uint256) {
        // Never negative: it is what was paid in minus refunds minus what live segments still hold.
        return uint256(earnedOffset + int256(rateSum * at)) / PRECISION;
    }

    /// @dev Months left, counting a month once more than a day of it is left: the day that the
    /// rounding of the expiry to midnight adds does not show as a month of its own.
    function _monthsLeft(uint256 remaining) internal pure returns (uint256) {
        return remaining <= 1 days ? 1 : Math.ceilDiv(remaining - 1 days, MONTH);
    }

    /// @dev The next UTC midnight at or after `timestamp`.
    function _endOfDay(uint256 timestamp) internal pure returns (uint256) {
        return Math.ceilDiv(timestamp, 1 days) * 1 days;
    }

    /// @dev Release stops when the node or its provider was removed, or its kind disabled.
    function _effectiveTime(uint40 terminated) internal view returns (uint256) {
        return terminated != 0 && terminated < block.timestamp ? terminated : block.timestamp;
    }

    // ------------------------------------------------------------------------------------------
    // Internal: tokens and access
    // ------------------------------------------------------------------------------------------

    /// @dev Pulls exactly `amount` from `from` and checks it arrived in full. Reverts from the
    /// token bubble up unchanged; a `false` return becomes TokenTransferFailed.
    function _pull(address from, uint256 amount) internal {
        if (amount == 0) return;
        uint256 before = _token.balanceOf(address(this));
        _callToken(abi.encodeCall(IERC20.transferFrom, (from, address(this), amount)), from, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        if (received != amount) revert ReceivedAmountMismatch(amount, received);
    }

    function _pay(address to, uint256 amount) internal {
        _callToken(abi.encodeCall(IERC20.transfer, (to, amount)), address(this), to, amount);
    }

    function _callToken(bytes memory call, address from, address to, uint256 amount) internal {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = address(_token).call(call);
        if (!ok) {
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        if (ret.length == 0 ? address(_token).code.length == 0 : !abi.decode(ret, (bool))) {
            revert TokenTransferFailed(address(_token), from, to, amount);
        }
    }

    /// @dev `sub` must be the record stored for (nodeId, clientId) and `caller` its owner.
    function _requireOwner(bytes32 nodeId, address clientId, Subscription memory sub, address caller)
        internal
        view
        returns (Subscription memory)
    {
        uint256 stored = _subscriptions[_key(nodeId, clientId)];
        if (stored == 0) revert NoSubscription(nodeId, clientId);
        if (stored != _commitment(sub)) revert SubscriptionRecordMismatch(nodeId, clientId);
        if (sub.owner != caller) revert NotSubscriptionOwner(nodeId, clientId, caller, sub.owner);
        return sub;
    }

    /// @dev What is stored for (nodeId, clientId), 0 when nothing; reverts when something else
    /// than `sub` is stored (for the calls that answer "nothing stored" rather than revert).
    function _storedUnlessOther(bytes32 nodeId, address clientId, Subscription memory sub)
        internal
        view
        returns (uint256 stored)
    {
        stored = _subscriptions[_key(nodeId, clientId)];
        if (stored != 0 && stored != _commitment(sub)) revert SubscriptionRecordMismatch(nodeId, clientId);
    }

    /// @dev What is stored for a record: the low 216 bits of its hash above its 40-bit expiry.
    function _commitment(Subscription memory record) internal pure returns (uint256 commitment) {
        // A memory struct of static fields is its ABI encoding already (seven cleaned words), so
        // it is hashed in place instead of copied by abi.encode.
        bytes32 hash;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            hash := keccak256(record, 0xe0)
        }
        commitment = (uint256(hash) << 40) | record.expiresAt;
    }

    function _requireCurator() internal view {
        if (!_registry.hasRole(CURATOR_ROLE, msg.sender)) revert NotCurator(msg.sender);
    }

    function _key(bytes32 nodeId, address clientId) internal pure returns (bytes32 key) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(0x00, nodeId)
            mstore(0x20, clientId)
            key := keccak256(0x00, 0x40)
        }
    }
}
