// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken
/// @notice Test ERC-20 that, once armed, calls a target during its next transfer (before moving
/// balances) and bubbles up the target's revert, to test reentrancy guards.
contract ReentrantToken is ERC20 {
    address public attackTarget;
    bytes public callData;

    event Reentered(address indexed target, bool success);

    constructor() ERC20("Reentrant Token", "REENT") {}

    /// @notice Mint to anyone (test only).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Call `target_` with `callData_` during the next transfer, once.
    function arm(address target_, bytes calldata callData_) external {
        attackTarget = target_;
        callData = callData_;
    }

    function _update(address from, address to, uint256 value) internal override {
        address t = attackTarget;
        if (t != address(0) && from != address(0) && to != address(0)) {
            attackTarget = address(0);
            bytes memory data = callData;
            delete callData;
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory ret) = t.call(data);
            if (!ok) {
                // solhint-disable-next-line no-inline-assembly
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
            emit Reentered(t, ok);
        }
        super._update(from, to, value);
    }
}
