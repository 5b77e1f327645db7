// The admission policy and the priority scheduler on their own (no network): modes, the per-peer
// token bucket, paid work first, free work in its own share of the slots and shed beyond its queue.
import { expect } from "chai";
import { AdmissionPolicy, PriorityScheduler, DEFAULT_ADMISSION_LIMITS } from "@status/mailserver-node";

const paid = { allowed: true };
const unpaid = { allowed: false, reason: "no-grant" };

describe("admission policy", () => {
  it("paid-only refuses a peer without a live grant with 402 and the reason; admits a paying one", () => {
    const policy = new AdmissionPolicy("paid-only");
    expect(policy.admit("p", unpaid)).to.deep.equal({ admitted: false, statusCode: 402, statusDesc: "PAYMENT_REQUIRED: subscription required (no-grant)" });
    expect(policy.admit("p", paid)).to.deep.equal({ admitted: true, serviceClass: "paid" });
  });

  it("freemium admits free peers at the free class under a per-peer token bucket, refilled with time", () => {
    let now = 0;
    const policy = new AdmissionPolicy("freemium", { freeBurst: 2, freeQueriesPerMinute: 6 }, () => now);
    expect(policy.admit("carol", unpaid)).to.deep.equal({ admitted: true, serviceClass: "free" });
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    expect(policy.admit("carol", unpaid)).to.deep.equal({ admitted: false, statusCode: 429, statusDesc: "TOO_MANY_REQUESTS: free query rate limit exceeded" });
    expect(policy.admit("dave", unpaid).admitted, "another peer has its own bucket").to.equal(true);
    for (let i = 0; i < 100; i++) expect(policy.admit("carol", paid).admitted, "paid is never limited").to.equal(true);
    now += 10_000; // one token per 10 s
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    expect(policy.admit("carol", unpaid).admitted).to.equal(false);
  });

  it("forgetting a peer on disconnect does not hand it a fresh bucket", () => {
    const policy = new AdmissionPolicy("free", { freeBurst: 1, freeQueriesPerMinute: 1 }, () => 0);
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    policy.forget("carol");
    expect(policy.admit("carol", unpaid).admitted).to.equal(false);
  });
});

describe("priority scheduler", () => {
  const limits = { ...DEFAULT_ADMISSION_LIMITS, maxConcurrent: 2, maxConcurrentFree: 1, maxFreeQueue: 2, maxPaidQueue: 10 };

  /** A task that runs until released, recording its start. */
  function gated(order: string[], name: string) {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    return { release, task: async () => { order.push(name); await done; return name; } };
  }

  it("runs paid work before waiting free work, keeps free work to its share, and sheds free work beyond its queue", async () => {
    const scheduler = new PriorityScheduler(limits);
    const order: string[] = [];
    const f1 = gated(order, "f1");
    const running = scheduler.run("free", f1.task);
    const f2 = gated(order, "f2");
    const f3 = gated(order, "f3");
    const waitingFree = [scheduler.run("free", f2.task), scheduler.run("free", f3.task)];
    // The free share (1) is taken and the free queue (2) is full: the next free request is shed.
    expect(await scheduler.run("free", async () => "f4")).to.equal(undefined);
    const p1 = gated(order, "p1");
    const paidRun = scheduler.run("paid", p1.task);
    await Promise.resolve();
    expect(order).to.deep.equal(["f1", "p1"]); // paid takes the second slot at once
    const p2 = gated(order, "p2");
    const paidWaiting = scheduler.run("paid", p2.task);
    expect(scheduler.queued).to.deep.equal({ paid: 1, free: 2 });
    f1.release();
    await running;
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).to.deep.equal(["f1", "p1", "p2"]); // the freed slot goes to waiting paid work first
    p1.release();
    p2.release();
    await Promise.all([paidRun, paidWaiting]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order.slice(3)).to.deep.equal(["f2"]); // then free work, one at a time
    f2.release();
    f3.release();
    expect((await Promise.all(waitingFree)).map((r) => r?.value)).to.deep.equal(["f2", "f3"]);
    expect(scheduler.running).to.equal(0);
  });

  it("frees the slot when a task throws", async () => {
    const scheduler = new PriorityScheduler(limits);
    await scheduler.run("paid", async () => { throw new Error("boom"); }).catch(() => undefined);
    expect(scheduler.running).to.equal(0);
    expect(await scheduler.run("paid", async () => 1)).to.deep.equal({ value: 1 });
  });
});
