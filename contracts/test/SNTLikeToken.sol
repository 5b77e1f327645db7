// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice What a MiniMe `approveAndCall` spender implements.
interface IApproveAndCallFallBack {
    function receiveApproval(address from, uint256 amount, address token, bytes calldata data) external;
}

/// @title SNTLikeToken
/// @notice Test double of SNT (a MiniMe token): `approveAndCall`, `transfer`/`transferFrom` that
/// return false instead of reverting, an `approve` that refuses non-zero to non-zero changes, and a
/// controller that mints, burns and moves balances. No EIP-2612 permit.
contract SNTLikeToken {
    string public name = "Status Network Token (test)";
    string public symbol = "SNT";
    uint8 public decimals = 18;

    address public controller;
    uint256 public totalSupply;
    mapping(address account => uint256) public balanceOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    error NotController(address caller);
    error InvalidRecipient(address to);
    /// @dev MiniMe: an allowance must be reset to zero before it is set to another non-zero value.
    error AllowanceNotZero(address owner, address spender, uint256 current);
    error ApproveFailed();
    error InsufficientBalance(address account, uint256 balance, uint256 amount);

    modifier onlyController() {
        if (msg.sender != controller) revert NotController(msg.sender);
        _;
    }

    constructor() {
        controller = msg.sender;
    }

    /// @notice Hand the controller role to another account.
    function changeController(address newController) external onlyController {
        controller = newController;
    }

    /// @notice Move `amount` to `to`; returns false when the balance is too low.
    function transfer(address to, uint256 amount) external returns (bool) {
        return _doTransfer(msg.sender, to, amount);
    }

    /// @notice Move `amount` from `from` to `to`; returns false when the allowance or balance is too low.
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed < amount) return false;
        if (!_doTransfer(from, to, amount)) return false;
        allowance[from][msg.sender] = allowed - amount;
        return true;
    }

    /// @notice Set the allowance; reverts when changing a non-zero allowance to another non-zero value.
    function approve(address spender, uint256 amount) public returns (bool) {
        uint256 current = allowance[msg.sender][spender];
        if (amount != 0 && current != 0) revert AllowanceNotZero(msg.sender, spender, current);
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @notice Approve `spender` and call its `receiveApproval` in the same transaction.
    function approveAndCall(address spender, uint256 amount, bytes calldata data) external returns (bool) {
        if (!approve(spender, amount)) revert ApproveFailed();
        IApproveAndCallFallBack(spender).receiveApproval(msg.sender, amount, address(this), data);
        return true;
    }

    /// @notice Mint (controller only).
    function generateTokens(address to, uint256 amount) external onlyController returns (bool) {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
        return true;
    }

    /// @notice Burn (controller only); reverts when the balance is too low.
    function destroyTokens(address from, uint256 amount) external onlyController returns (bool) {
        uint256 balance = balanceOf[from];
        if (balance < amount) revert InsufficientBalance(from, balance, amount);
        balanceOf[from] = balance - amount;
        totalSupply -= amount;
        emit Transfer(from, address(0), amount);
        return true;
    }

    /// @notice Move anyone's balance without an allowance (controller only), as SNT's controller can.
    function controllerTransfer(address from, address to, uint256 amount) external onlyController returns (bool) {
        return _doTransfer(from, to, amount);
    }

    function _doTransfer(address from, address to, uint256 amount) private returns (bool) {
        if (amount == 0) return true;
        if (to == address(0) || to == address(this)) revert InvalidRecipient(to);
        uint256 balance = balanceOf[from];
        if (balance < amount) return false;
        balanceOf[from] = balance - amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
        return true;
    }
}
