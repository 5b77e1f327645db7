// The admission policy and the priority scheduler on their own (no network): modes, the per-peer
// token bucket, paid work first, free work in its own share of the slots and shed beyond its queue.
import { expect } from "chai";
import { AdmissionPolicy, PriorityScheduler, DEFAULT_ADMISSION_LIMITS, EventLoopLoad, SHED_STATUS } from "@status/mailserver-node";

const paid = { allowed: true };
const unpaid = { allowed: false, reason: "no-grant" };

describe("admission policy", () => {
  it("paid-only refuses a peer without a live grant with 402 and the reason; admits a paying one", () => {
    const policy = new AdmissionPolicy("paid-only");
    expect(policy.admit("p", unpaid)).to.deep.equal({ admitted: false, statusCode: 402, statusDesc: "PAYMENT_REQUIRED: subscription required (no-grant)" });
    expect(policy.admit("p", paid)).to.deep.equal({ admitted: true, serviceClass: "paid" });
  });

  it("paid-only answers 503 try later, not 402, when the gate could not determine the subscription", () => {
    const policy = new AdmissionPolicy("paid-only");
    expect(policy.admit("p", { allowed: false, reason: "unavailable" })).to.deep.equal({
      admitted: false,
      statusCode: 503,
      statusDesc: "SERVICE_UNAVAILABLE: cannot check the subscription now, try later",
    });
    expect(policy.admit("p", { allowed: false, reason: "expired" })).to.include({ statusCode: 402 });
    expect(new AdmissionPolicy("freemium").admit("p", { allowed: false, reason: "unavailable" }), "served as free meanwhile").to.deep.equal({ admitted: true, serviceClass: "free" });
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

  it("default limits: a js-waku history read, then ReliableChannel's hash polling, never get 429; asking flat out does", () => {
    let now = 0;
    const policy = new AdmissionPolicy("free", {}, () => now);
    // 250 messages at js-waku's default page of 20: 13 pages and the empty page that ends it, back to back.
    for (let page = 0; page < 14; page++) expect(policy.admit("reader", unpaid), `page ${page}`).to.deep.equal({ admitted: true, serviceClass: "free" });
    // Then a missing message looked up by hash every 10 s (the page and the empty page after it), for an hour.
    for (let poll = 0; poll < 360; poll++) {
      now += 10_000;
      for (let q = 0; q < 2; q++) expect(policy.admit("reader", unpaid).admitted, `poll ${poll}`).to.equal(true);
    }
    // A peer asking as fast as it can is held to the bucket's rate.
    const outcomes = Array.from({ length: 1000 }, () => policy.admit("greedy", unpaid).admitted);
    expect(outcomes.filter(Boolean).length).to.equal(DEFAULT_ADMISSION_LIMITS.freeBurst);
  });

  it("a million throwaway peer ids keep at most maxFreePeers buckets; a peer seen recently keeps its own", () => {
    let now = 0;
    const policy = new AdmissionPolicy("free", { freeBurst: 2, freeQueriesPerMinute: 1, maxFreePeers: 1000 }, () => now);
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    for (let i = 0; i < 1_000_000; i++) {
      policy.admit(`throwaway-${i}`, unpaid);
      // Carol keeps asking now and then: she stays among the recently seen, her bucket stays empty.
      if (i % 500 === 0) expect(policy.admit("carol", unpaid).admitted, `carol at ${i}`).to.equal(false);
      now += 0.001;
    }
    expect(policy.freePeersTracked).to.equal(1000);
    expect(DEFAULT_ADMISSION_LIMITS.maxFreePeers).to.be.within(1, 100_000);
  });

  it("forgetting a peer on disconnect does not hand it a fresh bucket", () => {
    const policy = new AdmissionPolicy("free", { freeBurst: 1, freeQueriesPerMinute: 1 }, () => 0);
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    policy.forget("carol");
    expect(policy.admit("carol", unpaid).admitted).to.equal(false);
  });
});

describe("admission policy: free service from spare capacity only (freemium)", () => {
  const shed = { admitted: false, ...SHED_STATUS };

  it("sheds free queries with 503 while paid work waits for a slot or the event loop lags, without spending the peer's tokens", () => {
    const policy = new AdmissionPolicy("freemium", { freeBurst: 1, freeQueriesPerMinute: 1, maxEventLoopDelayMs: 20 }, () => 0);
    expect(policy.admit("carol", unpaid, { paidWaiting: 1, eventLoopDelayMs: 0 })).to.deep.equal(shed);
    expect(policy.admit("carol", unpaid, { paidWaiting: 0, eventLoopDelayMs: 21 })).to.deep.equal(shed);
    expect(policy.admit("bob", paid, { paidWaiting: 1000, eventLoopDelayMs: 1000 }), "paid is never shed by load").to.deep.equal({ admitted: true, serviceClass: "paid" });
    expect(policy.admit("carol", unpaid, { paidWaiting: 0, eventLoopDelayMs: 20 }), "her one token is still there").to.deep.equal({ admitted: true, serviceClass: "free" });
    expect(policy.admit("carol", unpaid)).to.include({ statusCode: 429 });
  });

  it("shares a global budget of free queries per second among all free peers (503 beyond), refilled with time", () => {
    let now = 0;
    const policy = new AdmissionPolicy("freemium", { freeBurst: 100, freeQueriesPerMinute: 6000, freeQueriesPerSecond: 3 }, () => now);
    // Later pages of reads under way (with a cursor) may spend the whole budget.
    const outcomes = ["a", "b", "c", "d", "a"].map((p) => policy.admit(p, unpaid, undefined, true));
    expect(outcomes.map((o) => o.admitted)).to.deep.equal([true, true, true, false, false]);
    expect(outcomes[3]).to.deep.equal(shed);
    now += 1000;
    expect(["e", "f", "g", "h"].map((p) => policy.admit(p, unpaid, undefined, true).admitted)).to.deep.equal([true, true, true, false]);
    for (let i = 0; i < 10; i++) expect(policy.admit("bob", paid).admitted, "paid is outside the free budget").to.equal(true);
  });

  // A history read is several pages and fails with any of them: when the budget runs short,
  // reads already started finish first (200 free clients completed 2 reads in 15 s without it).
  it("keeps most of the shared budget for reads under way: a new read takes only from its top fifth, a later page from all of it", () => {
    let now = 0;
    const policy = new AdmissionPolicy("freemium", { freeBurst: 100, freeQueriesPerMinute: 6000, freeQueriesPerSecond: 10 }, () => now);
    expect(policy.admit("a", unpaid).admitted, "a full budget admits a new read").to.equal(true);
    expect(policy.admit("b", unpaid).admitted).to.equal(true);
    expect(policy.admit("c", unpaid), "8 tokens left: kept for reads under way").to.deep.equal(shed);
    for (let i = 0; i < 8; i++) expect(policy.admit("a", unpaid, undefined, true).admitted, `page ${i + 2} of a's read`).to.equal(true);
    expect(policy.admit("b", unpaid, undefined, true), "the budget is spent").to.deep.equal(shed);
    now += 1000;
    expect(policy.admit("c", unpaid).admitted, "refilled").to.equal(true);
    const tiny = new AdmissionPolicy("freemium", { freeBurst: 100, freeQueriesPerMinute: 6000, freeQueriesPerSecond: 1 }, () => now);
    expect(tiny.admit("d", unpaid).admitted, "a budget of 1 still admits new reads").to.equal(true);
  });

  it("does not shed a read under way for the loop's lag, only for paid work waiting", () => {
    const policy = new AdmissionPolicy("freemium", { maxEventLoopDelayMs: 20 }, () => 0);
    expect(policy.admit("carol", unpaid, { paidWaiting: 0, eventLoopDelayMs: 50 }, false), "a new read").to.deep.equal(shed);
    expect(policy.admit("carol", unpaid, { paidWaiting: 0, eventLoopDelayMs: 50 }, true).admitted, "a later page").to.equal(true);
    expect(policy.admit("carol", unpaid, { paidWaiting: 1, eventLoopDelayMs: 0 }, true), "paid work waits").to.deep.equal(shed);
  });

  it("a peer over its own rate gets 429 and does not eat the shared budget", () => {
    const policy = new AdmissionPolicy("freemium", { freeBurst: 1, freeQueriesPerSecond: 2 }, () => 0);
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    for (let i = 0; i < 5; i++) expect(policy.admit("carol", unpaid)).to.include({ statusCode: 429 });
    expect(policy.admit("dave", unpaid, undefined, true).admitted, "the shared budget still has carol's refused queries' tokens").to.equal(true);
  });

  it("caps free store streams per peer and in total; closing one frees its place", () => {
    const policy = new AdmissionPolicy("freemium", { maxFreeStreamsPerPeer: 2, maxFreeStreams: 3 });
    expect([policy.openFreeStream("a"), policy.openFreeStream("a"), policy.openFreeStream("a")]).to.deep.equal([true, true, false]);
    expect([policy.openFreeStream("b"), policy.openFreeStream("c")]).to.deep.equal([true, false]);
    expect(policy.freeStreamsOpen).to.equal(3);
    policy.closeFreeStream("a");
    expect(policy.openFreeStream("c")).to.equal(true);
    expect(policy.openFreeStream("a"), "the total is full again").to.equal(false);
    policy.closeFreeStream("zed"); // never opened: no effect
    expect(policy.freeStreamsOpen).to.equal(3);
  });

  it("mode free keeps all capacity for free peers: no load shedding, no shared budget, no free stream caps", () => {
    const policy = new AdmissionPolicy("free", { freeBurst: 100, freeQueriesPerSecond: 1, maxFreeStreams: 0 }, () => 0);
    for (let i = 0; i < 5; i++) expect(policy.admit(`p${i}`, unpaid, { paidWaiting: 1, eventLoopDelayMs: 1000 }).admitted).to.equal(true);
    expect(policy.openFreeStream("a")).to.equal(true);
  });

  it("the event-loop monitor reports a blocked loop as delay", async function () {
    this.timeout(5_000);
    const load = new EventLoopLoad(50, 5);
    try {
      await new Promise((resolve) => setTimeout(resolve, 120));
      const blockUntil = performance.now() + 80;
      while (performance.now() < blockUntil); // hold the loop 80 ms
      // The blocked window is reported once the loop runs again; poll for it, then for its end.
      const seen = async (want: (ms: number) => boolean) => {
        for (let i = 0; i < 100 && !want(load.delayMs); i++) await new Promise((resolve) => setTimeout(resolve, 5));
        return load.delayMs;
      };
      expect(await seen((ms) => ms > 40)).to.be.greaterThan(40);
      expect(await seen((ms) => ms < 40), "the windows after the block no longer show it").to.be.lessThan(40);
    } finally {
      load.stop();
    }
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
    expect(scheduler.paidInFlight, "p1 running, p2 waiting").to.equal(2);
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
