// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @dev secp256k1 public keys from private keys, for tests that need a node's 64-byte public key
/// (Hardhat's test runner has no `createWallet` cheatcode). Jacobian double-and-add (the curve's
/// a = 0), one inversion at the end by Fermat's little theorem.
library Secp256k1 {
    uint256 internal constant P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;
    uint256 internal constant GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798;
    uint256 internal constant GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8;

    /// @dev The uncompressed public key X || Y (64 bytes) of `privateKey` (1 <= key < n).
    function publicKey(uint256 privateKey) internal pure returns (bytes memory) {
        (uint256 x, uint256 y) = multiply(privateKey);
        return abi.encodePacked(x, y);
    }

    /// @dev k * G in affine coordinates.
    function multiply(uint256 k) internal pure returns (uint256, uint256) {
        uint256 x;
        uint256 y;
        uint256 z; // z == 0: the point at infinity
        for (uint256 i = 256; i > 0; --i) {
            if (z != 0) (x, y, z) = _double(x, y, z);
            if ((k >> (i - 1)) & 1 == 1) {
                if (z == 0) (x, y, z) = (GX, GY, 1);
                else (x, y, z) = _addG(x, y, z);
            }
        }
        require(z != 0, "zero key");
        uint256 zi = _pow(z, P - 2);
        uint256 zi2 = mulmod(zi, zi, P);
        return (mulmod(x, zi2, P), mulmod(y, mulmod(zi2, zi, P), P));
    }

    /// @dev dbl-2009-l.
    function _double(uint256 x, uint256 y, uint256 z) private pure returns (uint256 x3, uint256 y3, uint256 z3) {
        uint256 a = mulmod(x, x, P);
        uint256 b = mulmod(y, y, P);
        uint256 c = mulmod(b, b, P);
        uint256 xb = addmod(x, b, P);
        uint256 d = mulmod(2, addmod(mulmod(xb, xb, P), P - addmod(a, c, P), P), P);
        uint256 e = mulmod(3, a, P);
        x3 = addmod(mulmod(e, e, P), P - mulmod(2, d, P), P);
        y3 = addmod(mulmod(e, addmod(d, P - x3, P), P), P - mulmod(8, c, P), P);
        z3 = mulmod(2, mulmod(y, z, P), P);
    }

    /// @dev madd-2007-bl with the second point G (never equal to the running point for a key).
    function _addG(uint256 x1, uint256 y1, uint256 z1) private pure returns (uint256 x3, uint256 y3, uint256 z3) {
        uint256 z1z1 = mulmod(z1, z1, P);
        uint256 h = addmod(mulmod(GX, z1z1, P), P - x1, P);
        require(h != 0, "equal points");
        uint256 hh = mulmod(h, h, P);
        uint256 i = mulmod(4, hh, P);
        uint256 j = mulmod(h, i, P);
        uint256 r = mulmod(2, addmod(mulmod(GY, mulmod(z1, z1z1, P), P), P - y1, P), P);
        uint256 v = mulmod(x1, i, P);
        x3 = addmod(addmod(mulmod(r, r, P), P - j, P), P - mulmod(2, v, P), P);
        y3 = addmod(mulmod(r, addmod(v, P - x3, P), P), P - mulmod(2, mulmod(y1, j, P), P), P);
        uint256 zh = addmod(z1, h, P);
        z3 = addmod(mulmod(zh, zh, P), P - addmod(z1z1, hh, P), P);
    }

    function _pow(uint256 base, uint256 exponent) private pure returns (uint256 result) {
        result = 1;
        while (exponent != 0) {
            if (exponent & 1 == 1) result = mulmod(result, base, P);
            base = mulmod(base, base, P);
            exponent >>= 1;
        }
    }
}
