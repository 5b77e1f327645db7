// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TestBase} from "./utils/TestBase.sol";
import {Secp256k1} from "./utils/Secp256k1.sol";

/// @dev The test helper's public keys hash to the address the cheatcodes give for the same key.
contract Secp256k1Test is TestBase {
    function testFuzz_publicKeyMatchesAddress(uint256 keySeed) public pure {
        uint256 pk = boundPrivateKey(keySeed);
        bytes memory publicKey = Secp256k1.publicKey(pk);
        assertEq(address(uint160(uint256(keccak256(publicKey)))), vm.addr(pk), "address of the public key");
    }
}
