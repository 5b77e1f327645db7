// The part of the optional `secp256k1` package (libsecp256k1 bindings) the gate uses.
declare module "secp256k1/bindings.js" {
  export function ecdsaRecover(signature: Uint8Array, recid: number, message: Uint8Array, compressed?: boolean): Uint8Array;
}
