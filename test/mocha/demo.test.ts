// Runs the demo the way `npm run demo` does (after the build) and checks that the story it tells
// is the real one: trusted and untrusted nodes, the one-transaction purchase, the gate's
// decisions, the expiry, the refund and the withdrawal.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import path from "node:path";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "..", "..");

describe("npm run demo", function () {
  this.timeout(180_000);
  let out: string;

  before(async () => {
    const result = await run("npx", ["hardhat", "run", "scripts/demo.ts"], { cwd: root, maxBuffer: 10 * 1024 * 1024 });
    out = result.stdout;
  });

  const line = (pattern: RegExp) => {
    const found = out.split("\n").find((l) => pattern.test(l));
    expect(found, `no line matching ${pattern} in:\n${out}`).to.not.equal(undefined);
    return found!;
  };

  it("registers three mail servers with real ENRs and shows what a user would see", () => {
    for (const name of ["mail-1", "mail-2", "mail-3"]) expect(line(new RegExp(`^\\s+${name}\\s.*trusted\\s+registered, approved`))).to.match(/Status \(default\)/);
    expect(line(/^\s+stranger\s/)).to.match(/untrusted\s+not-registered/);
    expect(line(/^\s+my node\s/)).to.match(/custom\s+added by hand/);
    line(/Selected mail-\d .*round trip [\d.]+ ms/);
  });

  it("buys 2 months through SNT's one-transaction path and leaves no allowance", () => {
    expect(line(/payment path/)).to.match(/approveAndCall \(one transaction, allowance left: 0 SNT\)/);
    line(/paid\s+\d+ SNT \(\d+ SNT x 2, price locked\)/);
    expect(line(/stored by the escrow/)).to.match(/one word 0x[0-9a-f]{8}…[0-9a-f]{4}, the record's commitment computed locally: yes$/);
  });

  it("gates requests: admits the subscriber, refuses replay, another connection and a stranger", () => {
    expect(line(/the user's signed request\s/)).to.match(/allowed$/);
    expect(line(/the same request replayed/)).to.match(/refused: replay$/);
    expect(line(/sent over another connection/)).to.match(/refused: peer-mismatch$/);
    expect(line(/a stranger's signed request/)).to.match(/refused: no-subscription$/);
  });

  it("the user's @waku/sdk app fetches its offline messages from the selected mail server; a stranger is refused", () => {
    expect(line(/the user's app presents its access grant/)).to.match(/accepted until \d{4}-/);
    expect(line(/the user's app fetches its messages/)).to.match(/"hi, are you there\?", "call me when you are back", "see you tomorrow"$/);
    expect(line(/a stranger's app asks for them/)).to.match(/refused: 402 PAYMENT_REQUIRED: subscription required \(no-grant\)$/);
  });

  it("refuses the subscriber once the subscription has run out", () => {
    const after = out.slice(out.indexOf("61 days later"));
    expect(after).to.match(/the user's signed request\s+refused: expired/);
  });

  it("refunds a cancellation and pays the provider, leaving nothing in the escrow", () => {
    const story = out.slice(out.indexOf("cancels after 10 days"));
    const amount = (pattern: RegExp) => Number(story.match(pattern)![1].replace(/,/g, ""));
    const paid = amount(/paid\s+([\d.,]+) SNT/);
    const refund = amount(/refunded \(the unserved part\)\s+([\d.,]+) SNT/);
    // 10 of about 91 days were served (3 months, the end rounded up to midnight).
    expect(refund / paid).to.be.within(0.85, 0.9);
    line(/^\s+mail-\d\s+[\d.,]+ SNT\s+0x/);
    line(/The escrow now holds 0 SNT/);
  });
});
