// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice Plain test ERC-20 with a public mint.
contract TestToken is ERC20 {
    constructor() ERC20("Test Token", "TEST") {}

    /// @notice Mint to anyone (test only).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
