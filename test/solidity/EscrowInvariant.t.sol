// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EscrowSetup, IMiniMe} from "./utils/EscrowSetup.sol";
import {Vm} from "./utils/Vm.sol";
import {TestBase} from "./utils/TestBase.sol";
import {MailServerRegistry} from "../../contracts/MailServerRegistry.sol";
import {SubscriptionEscrow} from "../../contracts/SubscriptionEscrow.sol";
import {ISubscriptionEscrow} from "../../contracts/interfaces/ISubscriptionEscrow.sol";
import {IMailServerRegistry} from "../../contracts/interfaces/IMailServerRegistry.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Records} from "./utils/Records.sol";

/// @dev The contracts and actors of an invariant run.
struct World {
    MailServerRegistry registry;
    IERC20 token;
    SubscriptionEscrow escrow;
    bytes32[2] nodes;
    address[2] providers;
    address[2] payouts;
    address[] subscribers;
    address[] clients;
}

/// @dev What the handler observed, kept outside the handler so that the fuzzer, which calls every
/// function of its target, spends its calls on actions rather than on getters.
contract EscrowGhosts {
    address internal immutable _handler;

    mapping(address subscriber => uint256) public paid;
    mapping(address subscriber => uint256) public refunded;
    mapping(address provider => uint256) public withdrawn;
    uint256 public totalPaid;
    uint256 public totalRefunded;
    uint256 public totalWithdrawn;
    string public violation;
    /// @dev The first money-out call (cancel, withdraw, expiry processing, client-id move) that
    /// reverted for a reason other than the ones its caller can expect.
    string public unexpectedRevert;

    /// @dev Each key's current record, as the handler learnt it from return values and events.
    mapping(bytes32 key => ISubscriptionEscrow.Subscription) internal _records;

    error OnlyHandler();

    constructor() {
        _handler = msg.sender;
    }

    modifier onlyHandler() {
        if (msg.sender != _handler) revert OnlyHandler();
        _;
    }

    function addPaid(address subscriber, uint256 amount) external onlyHandler {
        paid[subscriber] += amount;
        totalPaid += amount;
    }

    function addRefund(address subscriber, uint256 amount) external onlyHandler {
        refunded[subscriber] += amount;
        totalRefunded += amount;
    }

    function addWithdrawn(address provider, uint256 amount) external onlyHandler {
        withdrawn[provider] += amount;
        totalWithdrawn += amount;
    }

    function record(bytes32 nodeId, address clientId) external view returns (ISubscriptionEscrow.Subscription memory) {
        return _records[keccak256(abi.encode(nodeId, clientId))];
    }

    function setRecord(bytes32 nodeId, address clientId, ISubscriptionEscrow.Subscription calldata sub)
        external
        onlyHandler
    {
        _records[keccak256(abi.encode(nodeId, clientId))] = sub;
    }

    function clearRecord(bytes32 nodeId, address clientId) external onlyHandler {
        delete _records[keccak256(abi.encode(nodeId, clientId))];
    }

    function setViolation(string calldata what) external onlyHandler {
        if (bytes(violation).length == 0) violation = what;
    }

    function setUnexpectedRevert(string calldata what) external onlyHandler {
        if (bytes(unexpectedRevert).length == 0) unexpectedRevert = what;
    }
}

/// @dev Drives the escrow with several subscribers and two nodes of two providers through random
/// purchases, extensions (also by approveAndCall with the real MiniMe), renewals, cancels, expiry
/// processing, withdrawals, client-id moves, calls with stale or forged records, time, price and
/// fee changes, suspensions and removals. Keeps ghost sums of what each subscriber paid and got
/// back and what each provider withdrew, a ghost copy of each key's current record taken from
/// return values (and from the event for approveAndCall, which returns only a bool), and an
/// index of the records built from the escrow's events alone, which must agree with it after
/// every action (the escrow stores just a commitment). The handler is the
/// registry's admin and curator; it makes the test contract a curator too, so that the test can
/// end everything.
contract EscrowHandler is EscrowSetup {
    uint256 internal constant SUBSCRIBERS = 4;
    uint256 internal constant CLIENTS = 3;

    address[] internal _subscribers;
    address[] internal _clients;
    address[2] internal _providers;
    address[2] internal _payouts;
    bytes32[2] internal _nodes;

    EscrowGhosts public immutable ghosts;
    mapping(bytes32 nodeId => uint256) internal _lastEarned;
    /// @dev What a node had earned when a disabling of its kind retired it (it must never move).
    mapping(bytes32 nodeId => uint256) internal _retiredEarned;
    mapping(bytes32 nodeId => bool) internal _retired;
    /// @dev The record a key held before its last change (extension, renewal, renewal settings,
    /// overwrite, cancel, move): what a client that missed the last event would pass.
    mapping(bytes32 key => ISubscriptionEscrow.Subscription) internal _stale;
    /// @dev Set by an action that did what it names (or recorded a finding), read by {checked}.
    bool internal _did;

    /// @dev An action that did nothing (nothing to act on, or the escrow refused) reverts with
    /// this, so that the fuzzer's per-function metrics count `calls - reverts` = actions that went
    /// through (see test/solidity/invariantMetrics.ts).
    error NothingDone();

    /// @param useMiniMe Pay in the real MiniMe token instead of a plain ERC-20.
    constructor(bool useMiniMe) {
        ghosts = new EscrowGhosts();
        _deployWith(useMiniMe);
        registry.setEscrow(address(escrow));
        registry.grantRole(registry.CURATOR_ROLE(), msg.sender);
        for (uint256 i = 0; i < SUBSCRIBERS; ++i) _subscribers.push(address(uint160(0x4000 + i)));
        for (uint256 i = 0; i < CLIENTS; ++i) _clients.push(_clientOf(0x5000 + i));
        for (uint256 i = 0; i < 2; ++i) {
            _providers[i] = address(uint160(0x2000 + i));
            _payouts[i] = address(uint160(0x3000 + i));
            _addProvider(_providers[i], _payouts[i]);
        }
        _nodes[0] = _addNode(_providers[0], 11, 1e18);
        _nodes[1] = _addNode(_providers[1], 12, 3e18 + 7);
        // A starting point so that short sequences reach the interesting states (provider 0
        // takes a cancellation fee, so that cancels move fees to it from the first call).
        vm.prank(_providers[0]);
        escrow.setCancellationFee(500);
        vm.recordLogs();
        _subscribe(_subscribers[0], _nodes[0], _clients[0], 2);
        _subscribe(_subscribers[1], _nodes[1], _clients[1], 1);
        _subscribe(_subscribers[2], _nodes[0], _clients[2], 3);
        _index(vm.getRecordedLogs());
    }

    /// @dev Everything the invariant test reads, in one getter.
    function world() external view returns (World memory) {
        return World(registry, token, escrow, _nodes, _providers, _payouts, _subscribers, _clients);
    }

    // ------------------------------------------------------------------------------------------
    // Ghost records (kept in the ghosts contract, so that the invariant test reads them too)
    // ------------------------------------------------------------------------------------------

    function _rec(bytes32 nodeId, address clientId)
        internal
        view
        override
        returns (ISubscriptionEscrow.Subscription memory)
    {
        return ghosts.record(nodeId, clientId);
    }

    function _keep(bytes32 nodeId, address clientId, ISubscriptionEscrow.Subscription memory sub) internal override {
        ghosts.setRecord(nodeId, clientId, sub);
    }

    function _forget(bytes32 nodeId, address clientId) internal override {
        ghosts.clearRecord(nodeId, clientId);
    }

    /// @dev `sub` is now the key's record; the one it replaces becomes the key's stale record.
    function _supersede(bytes32 nodeId, address clientId, ISubscriptionEscrow.Subscription memory sub) internal {
        ISubscriptionEscrow.Subscription memory old = _rec(nodeId, clientId);
        if (old.owner != address(0)) _stale[_keyOf(nodeId, clientId)] = old;
        _keep(nodeId, clientId, sub);
    }

    function _retire(bytes32 nodeId, address clientId) internal {
        _stale[_keyOf(nodeId, clientId)] = _rec(nodeId, clientId);
        _forget(nodeId, clientId);
    }

    // ------------------------------------------------------------------------------------------
    // Checks after every action
    // ------------------------------------------------------------------------------------------

    /// @dev Reverts an action that did nothing (see {NothingDone}), else checks that the
    /// records an indexer learns from the action's events are the ones the calls returned, and
    /// checks the books.
    modifier checked() {
        _did = false;
        vm.recordLogs();
        _;
        if (!_did) revert NothingDone();
        _did = false;
        _index(vm.getRecordedLogs());
        for (uint256 k = 0; k < 2 * CLIENTS; ++k) {
            if (!_indexAgrees(_nodes[k / CLIENTS], _clients[k % CLIENTS])) {
                _violation(string.concat("the events disagree with the returned records on key ", vm.toString(k)));
            }
        }
        for (uint256 i = 0; i < 2; ++i) {
            uint256 earned = escrow.nodeEarnings(_nodes[i]).earned;
            if (earned < _lastEarned[_nodes[i]]) {
                _violation(
                    string.concat(
                        "earned decreased on node ",
                        vm.toString(i),
                        ": ",
                        vm.toString(_lastEarned[_nodes[i]]),
                        " -> ",
                        vm.toString(earned)
                    )
                );
            }
            _lastEarned[_nodes[i]] = earned;
            // Up to rounding dust: a cancel after the end gives the provider what the rounded-up
            // sums held beyond the rounded-down refund (under 2 wei per subscription key).
            if (_retired[_nodes[i]] && earned > _retiredEarned[_nodes[i]] + 4 * CLIENTS) {
                _violation(string.concat("a retired node earned more: node ", vm.toString(i)));
            }
            // A switched-off node holds no paid time, so nothing can be released for it.
            if (
                registry.getNode(_nodes[i]).status == IMailServerRegistry.NodeStatus.Inactive
                    && escrow.nodeEarnings(_nodes[i]).unreleased != 0
            ) _violation(string.concat("an inactive node holds unserved funds: node ", vm.toString(i)));
        }
    }

    function _node(uint256 seed) internal view returns (bytes32) {
        return _nodes[seed % 2];
    }

    function _fund(address payer, uint256 amount) internal {
        _mint(payer, amount);
        _approveEscrow(payer, amount);
    }

    function _paid(address payer, uint256 before) internal {
        ghosts.addPaid(payer, before - token.balanceOf(payer));
    }

    /// @dev Records a broken rule and keeps the action's state (so the finding survives).
    function _violation(string memory what) internal {
        ghosts.setViolation(what);
        _did = true;
    }

    function _selector(bytes memory err) internal pure returns (bytes4) {
        return err.length >= 4 ? bytes4(err) : bytes4(0);
    }

    /// @dev Records a revert of a money-out call unless its error is `allowed` (0: none is).
    function _unexpected(string memory what, bytes memory err, bytes4 allowed) internal {
        bytes4 selector = _selector(err);
        if (allowed != bytes4(0) && selector == allowed) return;
        ghosts.setUnexpectedRevert(string.concat(what, " reverted with ", vm.toString(bytes32(selector))));
        _did = true; // keep the finding
    }

    /// @dev A call made with the ghost record must never be refused for its record: that would
    /// mean the ghost (what a client learns from return values and events) drifted from the chain.
    function _checkRecordAccepted(string memory what, bytes memory err) internal {
        bytes4 selector = _selector(err);
        if (
            selector == ISubscriptionEscrow.SubscriptionRecordMismatch.selector
                || selector == ISubscriptionEscrow.NoSubscription.selector
        ) _violation(string.concat(what, ": the ghost record was refused"));
    }

    // ------------------------------------------------------------------------------------------
    // Subscriber actions
    // ------------------------------------------------------------------------------------------

    function subscribe(uint256 who, uint256 keySeed, uint256 months) external checked {
        address payer = _subscribers[who % SUBSCRIBERS];
        uint256 k = keySeed % (2 * CLIENTS);
        _subscribe(payer, _nodes[k / CLIENTS], _clients[k % CLIENTS], bound(months, 1, 24));
    }

    function extend(uint256 keySeed, uint256 months) external checked {
        (bytes32 nodeId, address clientId, address owner) = _pickKey(keySeed);
        if (owner == address(0)) return;
        months = bound(months, 1, 24);
        uint256 price = _price(nodeId);
        _fund(owner, price * months);
        uint256 before = token.balanceOf(owner);
        ISubscriptionEscrow.Subscription memory current = _rec(nodeId, clientId);
        vm.prank(owner);
        try escrow.extend(nodeId, clientId, current, months, price) returns (
            ISubscriptionEscrow.Subscription memory sub
        ) {
            _supersede(nodeId, clientId, sub);
            _paid(owner, before);
            _did = true;
        } catch (bytes memory err) {
            _checkRecordAccepted("extend", err);
        }
    }

    /// One-transaction purchase or extension with MiniMe's approveAndCall (the real bytecode):
    /// the extension's ExtensionRequest carries the ghost record; the record that results is
    /// learnt from the escrow's event, as a client learns it (approveAndCall returns only a bool).
    function approveAndCall(uint256 who, uint256 keySeed, uint256 months, bool extendIt)
        external
        checked
    {
        if (!miniMe) return;
        months = bound(months, 1, 24);
        bytes32 nodeId;
        address clientId;
        address payer;
        bytes memory data;
        if (extendIt) {
            (nodeId, clientId, payer) = _pickKey(keySeed);
            if (payer == address(0)) return;
            data = abi.encode(
                ISubscriptionEscrow.ExtensionRequest(
                    uint8(ISubscriptionEscrow.ApprovalAction.Extend),
                    nodeId,
                    clientId,
                    months,
                    _price(nodeId),
                    _rec(nodeId, clientId)
                )
            );
        } else {
            payer = _subscribers[who % SUBSCRIBERS];
            uint256 k = keySeed % (2 * CLIENTS);
            (nodeId, clientId) = (_nodes[k / CLIENTS], _clients[k % CLIENTS]);
            data = abi.encode(
                ISubscriptionEscrow.ApprovalRequest(
                    uint8(ISubscriptionEscrow.ApprovalAction.Subscribe),
                    nodeId,
                    clientId,
                    months,
                    _price(nodeId),
                    10_000,
                    _consent(nodeId, clientId, payer)
                )
            );
        }
        uint256 amount = _price(nodeId) * months;
        _mint(payer, amount);
        _approveEscrow(payer, 0); // approveAndCall approves from zero (MiniMe's rule)
        uint256 before = token.balanceOf(payer);
        vm.prank(payer);
        try IMiniMe(address(token)).approveAndCall(address(escrow), amount, data) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            (bool found, ISubscriptionEscrow.Subscription memory sub) = _recordFromLogs(logs);
            _index(logs); // the modifier's own fold finds these drained
            if (!found) _violation("approveAndCall: no event carried the record");
            _supersede(nodeId, clientId, sub);
            _paid(payer, before);
            if (token.allowance(payer, address(escrow)) != 0) _violation("approveAndCall left an allowance");
            _did = true;
        } catch {
            // MiniMe does not forward the revert data: nothing to tell a refused record by.
        }
    }

    function setAutoRenew(uint256 keySeed, uint256 months) external checked {
        (bytes32 nodeId, address clientId, address owner) = _pickKey(keySeed);
        if (owner == address(0)) return;
        months = bound(months, 0, 3);
        uint256 maxPrice = _price(nodeId) * 2;
        ISubscriptionEscrow.Subscription memory current = _rec(nodeId, clientId);
        vm.prank(owner);
        try escrow.setAutoRenew(nodeId, clientId, current, months, maxPrice) returns (
            ISubscriptionEscrow.Subscription memory sub
        ) {
            _supersede(nodeId, clientId, sub);
            _did = true;
        } catch (bytes memory err) {
            _checkRecordAccepted("setAutoRenew", err);
        }
    }

    /// Renew (as anyone), after opting in when the subscription is not, into the window or not,
    /// with the owner's allowance or without: renewalCheck predicts exactly whether it goes through.
    function renew(uint256 keySeed, uint256 optInMonths, bool intoWindow, bool unfunded) external checked {
        (bytes32 nodeId, address clientId, address owner) = _pickKey(keySeed);
        if (owner == address(0)) return;
        ISubscriptionEscrow.Subscription memory sub = _rec(nodeId, clientId);
        if (sub.renewMonths == 0) {
            uint256 maxPrice = _price(nodeId) * 2;
            vm.prank(owner);
            sub = escrow.setAutoRenew(nodeId, clientId, sub, bound(optInMonths, 1, 3), maxPrice);
            _supersede(nodeId, clientId, sub);
        }
        if (intoWindow && block.timestamp + 1 days < sub.expiresAt) vm.warp(sub.expiresAt - 1 days);
        if (!unfunded) _fund(owner, _price(nodeId) * sub.renewMonths);
        bool renewable = escrow.renewalCheck(nodeId, clientId, sub) == ISubscriptionEscrow.RenewalBlocker.None;
        uint256 before = token.balanceOf(owner);
        try escrow.renew(nodeId, clientId, sub) returns (ISubscriptionEscrow.Subscription memory renewed) {
            if (!renewable) _violation("renew went through although renewalCheck said it would not");
            _supersede(nodeId, clientId, renewed);
            _paid(owner, before);
            _did = true;
        } catch (bytes memory err) {
            if (renewable) _violation("renew failed although renewalCheck said it would go through");
            _checkRecordAccepted("renew", err);
        }
    }

    function cancel(uint256 keySeed) external checked {
        (bytes32 nodeId, address clientId, address owner) = _pickKey(keySeed);
        if (owner == address(0)) return;
        uint256 before = token.balanceOf(owner);
        ISubscriptionEscrow.Subscription memory current = _rec(nodeId, clientId);
        vm.prank(owner);
        try escrow.cancel(nodeId, clientId, current) {
            _retire(nodeId, clientId);
            ghosts.addRefund(owner, token.balanceOf(owner) - before);
            _did = true;
        } catch (bytes memory err) {
            _unexpected("cancel", err, ISubscriptionEscrow.SubscriptionNotActive.selector);
        }
    }

    /// Release everything that ended on the node of a subscription (what `settle` used to do).
    function processAllExpiries(uint256 keySeed) external checked {
        (bytes32 nodeId,, address owner) = _pickKey(keySeed);
        if (owner == address(0)) return;
        try escrow.processExpiries(nodeId, type(uint256).max) {
            _did = true;
        } catch (bytes memory err) {
            _unexpected("processExpiries", err, bytes4(0));
        }
    }

    /// The record moves to the new key unchanged; a lapsed record there is overwritten.
    function setClientId(uint256 keySeed, uint256 newClientSeed) external checked {
        (bytes32 nodeId, address clientId, address owner) = _pickKey(keySeed);
        if (owner == address(0)) return;
        address newClientId = _otherClient(clientId, newClientSeed);
        ISubscriptionEscrow.Subscription memory sub = _rec(nodeId, clientId);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(nodeId, newClientId, owner);
        vm.prank(owner);
        try escrow.setClientId(nodeId, clientId, sub, newClientId, consent) {
            _retire(nodeId, clientId);
            _supersede(nodeId, newClientId, sub);
            _did = true;
        } catch (bytes memory err) {
            _unexpected("setClientId", err, ISubscriptionEscrow.ClientIdTaken.selector);
        }
    }

    /// Manage a subscription with a record that is not the stored one: the key's stale record
    /// (what a client that missed the last event holds), another key's current record, or the
    /// current one with one field forged (`source` % 3; forged when the other two are not at
    /// hand). Extend, cancel, setAutoRenew, setClientId and renew must all revert
    /// SubscriptionRecordMismatch and change nothing (records, balances, earnings).
    function wrongRecordExtend(uint256 keySeed, uint256 source, uint256 field, uint256 delta) external checked {
        _useWrongRecord(0, keySeed, source, field, delta);
    }

    function wrongRecordCancel(uint256 keySeed, uint256 source, uint256 field, uint256 delta) external checked {
        _useWrongRecord(1, keySeed, source, field, delta);
    }

    function wrongRecordSetAutoRenew(uint256 keySeed, uint256 source, uint256 field, uint256 delta)
        external
        checked
    {
        _useWrongRecord(2, keySeed, source, field, delta);
    }

    function wrongRecordSetClientId(uint256 keySeed, uint256 source, uint256 field, uint256 delta)
        external
        checked
    {
        _useWrongRecord(3, keySeed, source, field, delta);
    }

    function wrongRecordRenew(uint256 keySeed, uint256 source, uint256 field, uint256 delta) external checked {
        _useWrongRecord(4, keySeed, source, field, delta);
    }

    /// @dev `fn`: 0 extend, 1 cancel, 2 setAutoRenew, 3 setClientId, 4 renew.
    function _useWrongRecord(uint256 fn, uint256 keySeed, uint256 source, uint256 field, uint256 delta) internal {
        (bytes32 nodeId, address clientId, address owner) = _pickKey(keySeed);
        if (owner == address(0)) return;
        ISubscriptionEscrow.Subscription memory bad;
        if (source % 3 == 1) {
            bad = _stale[_keyOf(nodeId, clientId)];
        } else if (source % 3 == 2) {
            (bytes32 otherNode, address otherClient,) = _pickKey(keySeed + 1 + (source >> 8) % (2 * CLIENTS - 1));
            bad = _rec(otherNode, otherClient);
        }
        // The stale or other record can equal the current one (bought alike in the same second
        // by the same owner): then, or when there is none, forge one.
        if (bad.owner == address(0) || _commitmentOf(bad) == escrow.subscriptionCommitment(nodeId, clientId)) {
            bad = Records.forged(_rec(nodeId, clientId), field, delta);
        }
        // extend and renew check the pause before the record.
        if (escrow.paused() && (fn == 0 || fn == 4)) return;
        uint256 price = _price(nodeId);
        _fund(owner, price);
        bytes32 before = _fingerprint();
        bytes memory err = _callWithRecord(fn, nodeId, clientId, owner, bad, price);
        bytes memory mismatch =
            abi.encodeWithSelector(ISubscriptionEscrow.SubscriptionRecordMismatch.selector, nodeId, clientId);
        if (keccak256(err) != keccak256(mismatch)) {
            _violation(
                string.concat("a wrong record was not refused with the mismatch error by function ", vm.toString(fn))
            );
        } else if (_fingerprint() != before) {
            _violation(string.concat("a refused wrong record changed state, function ", vm.toString(fn)));
        } else {
            _did = true;
        }
    }

    /// @dev Calls function `fn` (extend, cancel, setAutoRenew, setClientId, renew) with `sub`;
    /// returns the revert data ("" if it went through).
    function _callWithRecord(
        uint256 fn,
        bytes32 nodeId,
        address clientId,
        address owner,
        ISubscriptionEscrow.Subscription memory sub,
        uint256 price
    ) internal returns (bytes memory err) {
        if (fn == 4) {
            try escrow.renew(nodeId, clientId, sub) {} catch (bytes memory e) {
                err = e;
            }
            return err;
        }
        if (fn == 0) {
            vm.prank(owner);
            try escrow.extend(nodeId, clientId, sub, 1, price) {} catch (bytes memory e) {
                err = e;
            }
        } else if (fn == 1) {
            vm.prank(owner);
            try escrow.cancel(nodeId, clientId, sub) {} catch (bytes memory e) {
                err = e;
            }
        } else if (fn == 2) {
            vm.prank(owner);
            try escrow.setAutoRenew(nodeId, clientId, sub, 1, price) {} catch (bytes memory e) {
                err = e;
            }
        } else {
            address newClientId = _otherClient(clientId, uint256(keccak256(abi.encode(sub))));
            ISubscriptionEscrow.ClientConsent memory consent = _consent(nodeId, newClientId, owner);
            vm.prank(owner);
            try escrow.setClientId(nodeId, clientId, sub, newClientId, consent) {} catch (bytes memory e) {
                err = e;
            }
        }
    }

    /// @dev Every stored commitment, the token balances of the escrow and the subscribers, and
    /// both nodes' earnings, in one hash.
    function _fingerprint() internal view returns (bytes32 h) {
        for (uint256 k = 0; k < 2 * CLIENTS; ++k) {
            h = keccak256(abi.encode(h, escrow.subscriptionCommitment(_nodes[k / CLIENTS], _clients[k % CLIENTS])));
        }
        for (uint256 i = 0; i < SUBSCRIBERS; ++i) h = keccak256(abi.encode(h, token.balanceOf(_subscribers[i])));
        h = keccak256(abi.encode(h, token.balanceOf(address(escrow))));
        for (uint256 i = 0; i < 2; ++i) h = keccak256(abi.encode(h, escrow.nodeEarnings(_nodes[i])));
    }

    function _subscribe(address payer, bytes32 nodeId, address clientId, uint256 months) internal {
        uint256 price = _price(nodeId);
        _fund(payer, price * months);
        uint256 before = token.balanceOf(payer);
        ISubscriptionEscrow.ClientConsent memory consent = _consent(nodeId, clientId, payer);
        vm.prank(payer);
        try escrow.subscribe(nodeId, clientId, months, price, 10_000, consent) returns (
            ISubscriptionEscrow.Subscription memory sub
        ) {
            _supersede(nodeId, clientId, sub);
            _paid(payer, before);
            _did = true;
        } catch {}
    }

    /// @dev A client id other than `clientId`. (A move onto the same client id is left out: on
    /// a lapsed subscription the escrow deletes the record then, see the report of issue 15.)
    function _otherClient(address clientId, uint256 seed) internal view returns (address other) {
        other = _clients[seed % CLIENTS];
        if (other == clientId) other = _clients[(seed + 1) % CLIENTS];
    }

    /// @dev The first (node, client) with a ghost record, starting from `seed`.
    function _pickKey(uint256 seed) internal view returns (bytes32 nodeId, address clientId, address owner) {
        uint256 keys = 2 * CLIENTS;
        for (uint256 j = 0; j < keys; ++j) {
            uint256 k = (seed + j) % keys;
            nodeId = _nodes[k / CLIENTS];
            clientId = _clients[k % CLIENTS];
            owner = _rec(nodeId, clientId).owner;
            if (owner != address(0)) return (nodeId, clientId, owner);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Provider actions
    // ------------------------------------------------------------------------------------------

    function withdraw(uint256 seed) external checked {
        uint256 i = seed % 2;
        uint256 before = token.balanceOf(_payouts[i]);
        vm.prank(_providers[i]);
        try escrow.withdraw(_nodes[i]) {
            ghosts.addWithdrawn(_providers[i], token.balanceOf(_payouts[i]) - before);
            _did = true;
        } catch (bytes memory err) {
            _unexpected("withdraw", err, ISubscriptionEscrow.NothingToWithdraw.selector);
        }
    }

    function setPrice(uint256 seed, uint256 price) external checked {
        uint256 i = seed % 2;
        price = bound(price, 0, 5e18);
        vm.prank(_providers[i]);
        try registry.setNodePrice(_nodes[i], uint96(price)) {
            _did = true;
        } catch {}
    }

    function setFee(uint256 seed, uint256 feeBps) external checked {
        uint256 i = seed % 2;
        vm.prank(_providers[i]);
        try escrow.setCancellationFee(bound(feeBps, 0, 1000)) {
            _did = true;
        } catch {}
    }

    /// @dev Deactivation goes through exactly when no subscriber holds unserved paid time.
    function setNodeActive(uint256 seed, bool active) external checked {
        uint256 i = seed % 2;
        bool holds = escrow.holdsUnservedFunds(_nodes[i]);
        vm.prank(_providers[i]);
        try registry.setNodeActive(_nodes[i], active) {
            if (!active && holds) _violation("deactivated a node with paid subscriptions");
            _did = true;
        } catch (bytes memory err) {
            bytes4 selector = err.length >= 4 ? bytes4(err) : bytes4(0);
            if (selector == IMailServerRegistry.NodeHasPaidSubscriptions.selector && !holds) {
                _violation("deactivation refused without paid subscriptions");
            }
        }
    }

    /// @dev A curator disables the (only) kind, retiring both nodes, and may enable it again:
    /// rare, as it ends everything like a removal.
    function disableKind(uint256 seed, bool reenable) external checked {
        if ((seed >> 8) % 8 != 0) return;
        try registry.setKindEnabled(kind, false) {
            for (uint256 i = 0; i < 2; ++i) {
                if (_retired[_nodes[i]]) continue;
                _retired[_nodes[i]] = true;
                _retiredEarned[_nodes[i]] = escrow.nodeEarnings(_nodes[i]).earned;
            }
            if (reenable) registry.setKindEnabled(kind, true);
            _did = true;
        } catch {}
    }

    function processExpiries(uint256 seed, uint256 maxDays) external checked {
        try escrow.processExpiries(_node(seed), bound(maxDays, 0, 5)) {
            _did = true;
        } catch (bytes memory err) {
            _unexpected("processExpiries", err, bytes4(0));
        }
    }

    // ------------------------------------------------------------------------------------------
    // Time and curators (removals are terminal, so they happen a quarter of the times chosen)
    // ------------------------------------------------------------------------------------------

    function warp(uint256 secondsAhead) external checked {
        vm.warp(block.timestamp + bound(secondsAhead, 1, 20 days));
        _did = true;
    }

    /// @dev To a second around a subscription's (midnight) expiry: from just before it to the end
    /// of that day, where ended and running subscriptions of the same day meet.
    function warpToExpiry(uint256 keySeed, uint256 offset) external checked {
        (bytes32 nodeId, address clientId, address owner) = _pickKey(keySeed);
        if (owner == address(0)) return;
        uint256 target = _rec(nodeId, clientId).expiresAt + bound(offset, 0, 1 days) - 1;
        if (target > block.timestamp) {
            vm.warp(target);
            _did = true;
        }
    }

    function suspend(uint256 seed) external checked {
        try registry.suspendProvider(_providers[seed % 2], "handler") {
            _did = true;
        } catch {}
    }

    function reinstate(uint256 seed) external checked {
        try registry.reinstateProvider(_providers[seed % 2]) {
            _did = true;
        } catch {}
    }

    function removeProvider(uint256 seed) external checked {
        if ((seed >> 8) % 4 != 0) return;
        try registry.removeProvider(_providers[seed % 2], "handler") {
            _did = true;
        } catch {}
    }

    function removeNode(uint256 seed) external checked {
        if ((seed >> 8) % 4 != 0) return;
        try registry.removeNode(_nodes[seed % 2]) {
            _did = true;
        } catch {}
    }

    function pause(bool on) external checked {
        if (on) {
            try escrow.pause() {
                _did = true;
            } catch {}
        } else {
            try escrow.unpause() {
                _did = true;
            } catch {}
        }
    }
}

contract EscrowInvariantTest is TestBase {
    EscrowHandler internal handler;
    EscrowGhosts internal ghosts;
    MailServerRegistry internal registry;
    IERC20 internal token;
    SubscriptionEscrow internal escrow;
    bytes32[2] internal nodes;
    address[2] internal providers;
    address[2] internal payouts;
    address[] internal subscribers;
    address[] internal clients;
    /// @dev Refunds paid while ending everything (restoring the snapshot discards them).
    mapping(address subscriber => uint256) internal refunded;

    function _useMiniMe() internal pure virtual returns (bool) {
        return false;
    }

    function setUp() public {
        vm.warp(1_700_000_000);
        handler = new EscrowHandler(_useMiniMe());
        ghosts = handler.ghosts();
        World memory w = handler.world();
        (registry, token, escrow) = (w.registry, w.token, w.escrow);
        (nodes, providers, payouts, subscribers, clients) = (w.nodes, w.providers, w.payouts, w.subscribers, w.clients);
        targetContract(address(handler));
    }

    /// token.balanceOf(escrow) == sum over nodes of (unreleased + withdrawable).
    function invariant_balanceEqualsBooks() public view {
        uint256 books;
        for (uint256 i = 0; i < 2; ++i) {
            ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(nodes[i]);
            assertEq(e.earned, e.withdrawn + e.withdrawable, "earned = withdrawn + withdrawable");
            books += e.unreleased + e.withdrawable;
        }
        assertEq(token.balanceOf(address(escrow)), books, "balance == unreleased + withdrawable");
    }

    /// Every token that came in is held, was refunded, or was withdrawn.
    function invariant_conservation() public view {
        assertEq(
            ghosts.totalPaid(),
            ghosts.totalRefunded() + ghosts.totalWithdrawn() + token.balanceOf(address(escrow)),
            "paid == refunded + withdrawn + held"
        );
    }

    function invariant_noSubscriberGotBackMoreThanPaid() public view {
        for (uint256 i = 0; i < subscribers.length; ++i) {
            assertLe(ghosts.refunded(subscribers[i]), ghosts.paid(subscribers[i]), "refunded <= paid");
        }
    }

    function invariant_noProviderWithdrewMoreThanEarned() public view {
        for (uint256 i = 0; i < 2; ++i) {
            ISubscriptionEscrow.NodeEarnings memory e = escrow.providerEarnings(providers[i]);
            assertEq(ghosts.withdrawn(providers[i]), e.withdrawn, "withdrawn as recorded");
            assertLe(e.withdrawn, e.earned, "withdrawn <= earned");
            assertEq(token.balanceOf(payouts[i]), e.withdrawn, "payout got exactly the withdrawals");
        }
    }

    /// What all subscribers of a node could get back (plus fees) fits in what the node holds;
    /// every expiry is a UTC midnight.
    function invariant_refundsAreCovered() public view {
        for (uint256 i = 0; i < 2; ++i) {
            uint256 owed;
            for (uint256 c = 0; c < clients.length; ++c) {
                ISubscriptionEscrow.Subscription memory sub = ghosts.record(nodes[i], clients[c]);
                ISubscriptionEscrow.SubscriptionStatus memory st = escrow.status(nodes[i], clients[c], sub);
                owed += st.refundableNow + st.cancellationFeeNow;
                assertLe(st.refundableNow + st.cancellationFeeNow, sub.paid, "unserved <= paid");
                assertEq(sub.expiresAt % 1 days, 0, "expiry on a midnight");
            }
            assertLe(owed, escrow.nodeEarnings(nodes[i]).unreleased, "refunds covered");
        }
    }

    /// For every key: the ghost record (learnt from return values and events only) is the one
    /// stored (its commitment, computed here, is what the escrow holds), or nothing is stored and
    /// the ghost is empty; `expiries` gives the ghost's expiry.
    function invariant_ghostRecordsAreCurrent() public view {
        bytes32[] memory nodeIds = new bytes32[](2 * clients.length);
        address[] memory clientIds = new address[](2 * clients.length);
        for (uint256 k = 0; k < nodeIds.length; ++k) {
            (nodeIds[k], clientIds[k]) = (nodes[k / clients.length], clients[k % clients.length]);
        }
        uint256[] memory expiries = escrow.expiries(nodeIds, clientIds);
        for (uint256 k = 0; k < nodeIds.length; ++k) {
            ISubscriptionEscrow.Subscription memory sub = ghosts.record(nodeIds[k], clientIds[k]);
            uint256 stored = escrow.subscriptionCommitment(nodeIds[k], clientIds[k]);
            if (sub.owner == address(0)) {
                assertEq(stored, 0, "an empty ghost: nothing stored");
            } else {
                assertTrue(escrow.isCurrent(nodeIds[k], clientIds[k], sub), "the ghost record is current");
                assertEq(stored, Records.commitment(sub), "the commitment of the ghost record is stored");
            }
            assertEq(expiries[k], sub.expiresAt, "expiries == the ghost's expiresAt");
        }
    }

    /// The rules the handler checks after every action hold: earned never decreases, a retired
    /// node earns nothing more, an inactive node holds nothing unserved, deactivation goes
    /// through exactly when nothing is owed, every call made with the ghost record accepts it,
    /// approveAndCall leaves no allowance, and every stale or forged record is refused with
    /// SubscriptionRecordMismatch and changes nothing.
    function invariant_handlerRulesHold() public view {
        string memory what = ghosts.violation();
        assertEq(bytes(what).length, 0, what);
    }

    /// Refunds, withdrawals, expiry processing and client-id moves never fail for a reason other
    /// than the expected one (nothing ended, nothing due, key taken): no money gets stuck.
    function invariant_moneyOutNeverRevertsUnexpectedly() public view {
        string memory what = ghosts.unexpectedRevert();
        assertEq(bytes(what).length, 0, what);
    }

    /// Whatever happened so far: remove both providers, let everybody cancel (or have an ended
    /// subscription processed) and the providers withdraw. Everyone gets what status promised,
    /// nobody more than paid, the providers exactly what was withdrawable, and the escrow ends
    /// empty.
    function invariant_endingEverythingEmptiesTheEscrow() public {
        uint256 snapshot = vm.snapshotState();
        for (uint256 i = 0; i < 2; ++i) {
            if (registry.getProvider(providers[i]).status != IMailServerRegistry.ProviderStatus.Removed) {
                registry.removeProvider(providers[i], "end");
            }
        }
        vm.warp(block.timestamp + 1);
        for (uint256 i = 0; i < 2; ++i) {
            for (uint256 c = 0; c < clients.length; ++c) {
                ISubscriptionEscrow.Subscription memory sub = ghosts.record(nodes[i], clients[c]);
                if (sub.owner == address(0)) continue;
                ISubscriptionEscrow.SubscriptionStatus memory st = escrow.status(nodes[i], clients[c], sub);
                assertEq(st.cancellationFeeNow, 0, "no fee after removal");
                uint256 before = token.balanceOf(sub.owner);
                vm.prank(sub.owner);
                try escrow.cancel(nodes[i], clients[c], sub) {
                    uint256 got = token.balanceOf(sub.owner) - before;
                    assertEq(got, st.refundableNow, "refund as status said");
                    // The ghosts are the handler's; sum here instead of writing them.
                    refunded[sub.owner] += got;
                    assertLe(
                        ghosts.refunded(sub.owner) + refunded[sub.owner],
                        ghosts.paid(sub.owner),
                        "refunded <= paid after ending everything"
                    );
                } catch {
                    assertEq(st.refundableNow, 0, "uncancellable owes nothing");
                    try escrow.processExpiries(nodes[i], type(uint256).max) {} catch {}
                }
            }
        }
        for (uint256 i = 0; i < 2; ++i) {
            ISubscriptionEscrow.NodeEarnings memory e = escrow.nodeEarnings(nodes[i]);
            assertEq(e.unreleased, 0, "nothing left unreleased");
            if (e.withdrawable != 0) {
                uint256 before = token.balanceOf(payouts[i]);
                vm.prank(providers[i]);
                escrow.withdraw(nodes[i]);
                assertEq(token.balanceOf(payouts[i]) - before, e.withdrawable, "withdrew what was withdrawable");
            }
            e = escrow.nodeEarnings(nodes[i]);
            assertLe(e.withdrawn, e.earned, "withdrawn <= earned");
        }
        assertEq(token.balanceOf(address(escrow)), 0, "escrow empty after ending everything");
        vm.revertToState(snapshot);
    }
}

/// @dev The same invariants with the real MiniMe token (solc 0.4.18 bytecode from the npm
/// package): false-returning transferFrom, the approve-through-zero rule, checkpoints.
contract EscrowInvariantMiniMeTest is EscrowInvariantTest {
    function _useMiniMe() internal pure override returns (bool) {
        return true;
    }
}
