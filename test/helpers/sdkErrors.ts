import { expect } from "chai";
import { MailserverSdkError } from "@status/mailserver-sdk";

/**
 * Asserts that `promise` (or what `fn` returns or throws) fails with a MailserverSdkError of
 * `code`, and returns that error for further checks.
 */
export async function expectSdkError(promise: Promise<unknown> | (() => unknown), code: string): Promise<MailserverSdkError> {
  try {
    if (typeof promise === "function") await promise();
    else await promise;
  } catch (error) {
    expect(error, String(error)).to.be.instanceOf(MailserverSdkError);
    expect((error as MailserverSdkError).code, (error as Error).message).to.equal(code);
    return error as MailserverSdkError;
  }
  return expect.fail(`expected MailserverSdkError ${code}`);
}
