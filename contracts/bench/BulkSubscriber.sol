// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ISubscriptionEscrow} from "../interfaces/ISubscriptionEscrow.sol";

/// @title BulkSubscriber
/// @notice Benchmark helper, never deployed for real: buys many subscriptions to one node per
/// transaction (one per client id), so that the SDK benchmark can set up thousands of
/// subscribers quickly. It pays from its own token balance and becomes the owner of every
/// subscription it buys.
contract BulkSubscriber {
    /// @notice The escrow subscriptions are bought from.
    ISubscriptionEscrow public immutable escrow;
    /// @notice The escrow's payment token.
    IERC20 public immutable token;
    /// @notice The only account allowed to spend this contract's tokens.
    address public immutable operator;

    /// @notice The caller is not the operator.
    error NotOperator(address caller);
    /// @notice The token refused the approval.
    error ApproveFailed();

    /// @param escrow_ The escrow to buy from.
    /// @param token_ The escrow's payment token.
    constructor(ISubscriptionEscrow escrow_, IERC20 token_) {
        escrow = escrow_;
        token = token_;
        operator = msg.sender;
    }

    /// @dev Reverts unless called by the operator.
    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    /// @notice Let the escrow pull up to `amount` of this contract's tokens.
    /// @param amount The allowance (MiniMe tokens require it to be zero before a non-zero change).
    function approveEscrow(uint256 amount) external onlyOperator {
        if (!token.approve(address(escrow), amount)) revert ApproveFailed();
    }

    /// @notice Subscribe every client id in `clientIds` to `nodeId` for `months`.
    /// @param nodeId The node to subscribe to.
    /// @param clientIds The client ids (addresses of the clients' request keys), one subscription each.
    /// @param months Months bought for each client id.
    /// @param maxPricePerMonth Highest accepted monthly price.
    /// @param consents Each client key's consent to this contract owning its subscription.
    function subscribeMany(
        bytes32 nodeId,
        address[] calldata clientIds,
        uint256 months,
        uint256 maxPricePerMonth,
        ISubscriptionEscrow.ClientConsent[] calldata consents
    ) external onlyOperator {
        uint256 count = clientIds.length;
        for (uint256 i = 0; i < count; ++i) {
            escrow.subscribe(nodeId, clientIds[i], months, maxPricePerMonth, 10_000, consents[i]);
        }
    }
}
