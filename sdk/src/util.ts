import { getAddress } from "ethers";
import { MailserverSdkError } from "./errors.js";

/** A checksummed address, or INVALID_ARGUMENT naming the parameter. */
export function checkAddress(value: string, name: string): string {
  try {
    return getAddress(value);
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `${name} is not an address: ${String(value)}`, {
      details: { [name]: value },
      cause: error,
    });
  }
}

/** A non-negative integer as bigint, or INVALID_ARGUMENT naming the parameter. */
export function checkUint(value: bigint | number | string, name: string): bigint {
  let result: bigint;
  try {
    result = BigInt(value);
  } catch (error) {
    throw new MailserverSdkError("INVALID_ARGUMENT", `${name} is not an integer: ${String(value)}`, { cause: error });
  }
  if (result < 0n) throw new MailserverSdkError("INVALID_ARGUMENT", `${name} must not be negative`, { details: { [name]: result } });
  return result;
}

/** Seconds since the epoch as a bigint. */
export function nowSeconds(): bigint {
  return BigInt(Math.floor(Date.now() / 1000));
}
