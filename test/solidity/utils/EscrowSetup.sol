// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TestBase} from "./TestBase.sol";
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

    /// @dev Mint, approve and subscribe at the node's current price; returns what was paid.
    function _buy(address payer, bytes32 nodeId, address clientId, uint256 months) internal returns (uint256 amount) {
        amount = _price(nodeId) * months;
        uint256 price = _price(nodeId);
        _mint(payer, amount);
        _approveEscrow(payer, amount);
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
