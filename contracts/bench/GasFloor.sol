// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title GasFloor
/// @notice Benchmark baseline, never deployed for real: the least any prepaid subscription must
/// do on chain (move the tokens, write one slot, emit one event), measured in the same run as
/// the escrow so that the benchmark reports honest ratios.
contract GasFloor {
    IERC20 private immutable _token;
    /// @dev expiry (40 bits) and amount (216 bits) of each payer, one slot.
    mapping(address payer => uint256 packed) private _paid;

    event Paid(address indexed payer, uint256 amount, uint256 expiresAt);
    event Refunded(address indexed payer, uint256 amount);

    error TransferFailed();

    constructor(IERC20 token_) {
        _token = token_;
    }

    /// @notice Pull `amount` and record a 30-day expiry.
    function subscribe(uint256 amount) external {
        uint256 expiresAt = block.timestamp + 30 days;
        _paid[msg.sender] = (amount << 40) | expiresAt;
        emit Paid(msg.sender, amount, expiresAt);
        if (!_token.transferFrom(msg.sender, address(this), amount)) revert TransferFailed();
    }

    /// @notice Pull `amount` and push the expiry 30 days further.
    function extend(uint256 amount) external {
        uint256 packed = _paid[msg.sender];
        uint256 expiresAt = uint40(packed) + 30 days;
        _paid[msg.sender] = (((packed >> 40) + amount) << 40) | expiresAt;
        emit Paid(msg.sender, amount, expiresAt);
        if (!_token.transferFrom(msg.sender, address(this), amount)) revert TransferFailed();
    }

    /// @notice Clear the record and pay everything back.
    function refund() external {
        uint256 amount = _paid[msg.sender] >> 40;
        delete _paid[msg.sender];
        emit Refunded(msg.sender, amount);
        if (!_token.transfer(msg.sender, amount)) revert TransferFailed();
    }
}
