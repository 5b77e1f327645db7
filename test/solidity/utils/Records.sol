// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISubscriptionEscrow} from "../../../contracts/interfaces/ISubscriptionEscrow.sol";

/// @dev The escrow's subscription records as the tests handle them: the commitment the escrow
/// must store for a record (computed here independently of the contract), and forgeries.
library Records {
    /// @dev keccak256 of the 7-field tuple's ABI encoding, shifted left 40 bits (mod 2^256), or'ed
    /// with the expiry (see ISubscriptionEscrow.subscriptionCommitment).
    function commitment(ISubscriptionEscrow.Subscription memory sub) internal pure returns (uint256) {
        bytes32 h = keccak256(
            abi.encode(
                sub.owner,
                sub.start,
                sub.expiresAt,
                sub.cancellationFeeBps,
                sub.paid,
                sub.renewMonths,
                sub.renewMaxPricePerMonth
            )
        );
        unchecked {
            return (uint256(h) << 40) | uint256(sub.expiresAt);
        }
    }

    /// @dev A copy of `sub` with field `field % 7` changed: xor'ed with a non-zero value taken
    /// from `delta`, so the forgery always differs from the original in that field.
    function forged(ISubscriptionEscrow.Subscription memory sub, uint256 field, uint256 delta)
        internal
        pure
        returns (ISubscriptionEscrow.Subscription memory f)
    {
        f = ISubscriptionEscrow.Subscription(
            sub.owner,
            sub.start,
            sub.expiresAt,
            sub.cancellationFeeBps,
            sub.paid,
            sub.renewMonths,
            sub.renewMaxPricePerMonth
        );
        field %= 7;
        if (field == 0) f.owner = address(uint160(f.owner) ^ uint160(_nonZero(delta, type(uint160).max)));
        else if (field == 1) f.start ^= uint40(_nonZero(delta, type(uint40).max));
        else if (field == 2) f.expiresAt ^= uint40(_nonZero(delta, type(uint40).max));
        else if (field == 3) f.cancellationFeeBps ^= uint16(_nonZero(delta, type(uint16).max));
        else if (field == 4) f.paid ^= uint96(_nonZero(delta, type(uint96).max));
        else if (field == 5) f.renewMonths ^= uint8(_nonZero(delta, type(uint8).max));
        else f.renewMaxPricePerMonth ^= uint96(_nonZero(delta, type(uint96).max));
    }

    /// @dev A value in [1, max].
    function _nonZero(uint256 x, uint256 max) private pure returns (uint256) {
        return 1 + (x % max);
    }
}
