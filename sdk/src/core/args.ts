// Argument checks written once: bad input is INVALID_ARGUMENT naming the argument and its value,
// before anything is read or sent.
import { getAddress } from "ethers";
import { MailserverSdkError } from "../errors.js";

/** `value` when it is an integer from `min` to `max` (safe integers), else INVALID_ARGUMENT. */
export function integerIn(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? "a non-negative integer" : min === 1 ? "a positive integer" : `an integer of at least ${min}`) : `an integer from ${min} to ${max}`;
    throw new MailserverSdkError("INVALID_ARGUMENT", `${name} must be ${range}`, { details: { [name]: value } });
  }
  return value;
}

/** `value` when it is a non-negative safe integer, else INVALID_ARGUMENT. */
export const nonNegativeInteger = (name: string, value: number): number => integerIn(name, value, 0);

/** `value` when it is a positive safe integer, else INVALID_ARGUMENT. */
export const positiveInteger = (name: string, value: number): number => integerIn(name, value, 1);

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
