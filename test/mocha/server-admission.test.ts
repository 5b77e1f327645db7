// The admission policy and the priority scheduler on their own (no network): modes, the per-peer
// token bucket, paid work first, free work in its own share of the slots, waiting for spare
// capacity within its deadline and refused beyond its queue.
import { expect } from "chai";
import { AdmissionPolicy, PriorityScheduler, DEFAULT_ADMISSION_LIMITS, EventLoopLoad, libp2pLogger } from "@status/mailserver-node";

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
  it("has spare capacity for a new read only while the event loop keeps up; a later page of a read under way goes on", () => {
    const policy = new AdmissionPolicy("freemium", { maxEventLoopDelayMs: 20 }, () => 0);
    expect(policy.spare(false, 21), "a new read, loop lagging").to.equal(false);
    expect(policy.spare(true, 1000), "a later page").to.equal(true);
    expect(policy.spare(false, 20)).to.equal(true);
    expect(policy.admit("bob", paid), "paid never asks").to.deep.equal({ admitted: true, serviceClass: "paid" });
  });

  it("shares a global budget of free queries per second among all free peers, refilled with time", () => {
    let now = 0;
    const policy = new AdmissionPolicy("freemium", { freeQueriesPerSecond: 3 }, () => now);
    expect([true, false, true, false, true].map((continues) => policy.spare(continues, 0))).to.deep.equal([true, true, true, false, false]);
    now += 1000;
    expect([0, 1, 2, 3].map(() => policy.spare(false, 0))).to.deep.equal([true, true, true, false]);
    now += 500;
    expect([0, 1].map(() => policy.spare(false, 0)), "half a second: a token and a half").to.deep.equal([true, false]);
  });

  it("a peer over its own rate gets 429 and does not eat the shared budget; a refund gives a peer its token back", () => {
    const policy = new AdmissionPolicy("freemium", { freeBurst: 1, freeQueriesPerMinute: 1, freeQueriesPerSecond: 1 }, () => 0);
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    for (let i = 0; i < 5; i++) expect(policy.admit("carol", unpaid)).to.include({ statusCode: 429 });
    expect(policy.spare(false, 0), "the shared budget still has its token").to.equal(true);
    policy.refund("carol");
    expect(policy.admit("carol", unpaid).admitted, "refunded").to.equal(true);
    policy.refund("carol");
    policy.refund("carol");
    expect(policy.admit("carol", unpaid).admitted).to.equal(true);
    expect(policy.admit("carol", unpaid).admitted, "a refund never fills the bucket past its burst").to.equal(false);
    policy.refund("nobody"); // unknown peer: nothing to give back
    expect(policy.freePeersTracked).to.equal(1);
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
    for (let i = 0; i < 5; i++) expect(policy.admit(`p${i}`, unpaid).admitted && policy.spare(false, 1000)).to.equal(true);
    expect(policy.openFreeStream("a")).to.equal(true);
  });

  it("libp2p's per-stream loggers cost nothing unless DEBUG names something", () => {
    const quiet = libp2pLogger("")!;
    const log = quiet.forComponent("libp2p:mplex:stream:receiver:1");
    expect(log.enabled).to.equal(false);
    expect(quiet.forComponent("libp2p:noise"), "one shared logger, nothing made per stream").to.equal(log);
    expect(log.newScope("x")).to.equal(log);
    for (const write of [log, log.error, log.trace]) expect(write("dropped")).to.equal(undefined);
    expect(libp2pLogger("  "), "DEBUG blank").to.equal(quiet);
    expect(libp2pLogger("libp2p:*"), "DEBUG set: libp2p's own loggers").to.equal(undefined);
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

  const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("free work without spare capacity waits for it instead of being refused, later pages of reads under way first", async () => {
    let spare = false;
    const asked: boolean[] = [];
    const scheduler = new PriorityScheduler({ ...limits, maxConcurrent: 4, maxConcurrentFree: 4, maxFreeQueue: 10 }, {
      spare: (continues) => (asked.push(continues), spare),
      retryMs: 5,
    });
    const order: string[] = [];
    const job = (name: string) => async () => (order.push(name), name);
    const runs = [scheduler.run("free", job("new 1")), scheduler.run("free", job("page 2"), true), scheduler.run("free", job("new 2"))];
    const askedBefore = asked.length;
    await tick(30);
    expect(order, "nothing starts without spare capacity").to.deep.equal([]);
    expect(scheduler.queued).to.deep.equal({ paid: 0, free: 3 });
    expect(asked.length, "asked again while waiting").to.be.greaterThan(askedBefore);
    expect(asked.slice(askedBefore).every((continues) => continues), "the later page is asked for first").to.equal(true);
    spare = true;
    expect((await Promise.all(runs)).map((r) => r?.value)).to.deep.equal(["new 1", "page 2", "new 2"]);
    expect(order).to.deep.equal(["page 2", "new 1", "new 2"]);
    expect(scheduler.running).to.equal(0);
  });

  it("refuses free work that waited freeQueueTimeoutMs, and at once beyond maxFreeQueue; paid work never asks for spare capacity", async () => {
    const scheduler = new PriorityScheduler({ ...limits, maxFreeQueue: 2, freeQueueTimeoutMs: 60 }, { spare: () => false, retryMs: 5 });
    const started = performance.now();
    const waiting = [scheduler.run("free", async () => "a"), scheduler.run("free", async () => "b", true)];
    expect(await scheduler.run("free", async () => "c"), "the queue is full").to.equal(undefined);
    expect(await scheduler.run("paid", async () => "paid"), "paid is outside the free budget").to.deep.equal({ value: "paid" });
    expect(await Promise.all(waiting)).to.deep.equal([undefined, undefined]);
    expect(performance.now() - started).to.be.within(55, 1000);
    expect(scheduler.queued.free).to.equal(0);
  });

  it("free work waits while paid work waits for a slot, whatever the spare capacity", async () => {
    const scheduler = new PriorityScheduler({ ...limits, maxConcurrent: 1, maxConcurrentFree: 1 });
    const order: string[] = [];
    const p1 = gated(order, "p1");
    const running = scheduler.run("paid", p1.task);
    const p2 = gated(order, "p2");
    const paidWaiting = scheduler.run("paid", p2.task);
    const free = scheduler.run("free", async () => (order.push("f"), "f"));
    p1.release();
    await running;
    await tick(5);
    expect(order).to.deep.equal(["p1", "p2"]);
    p2.release();
    await paidWaiting;
    expect(await free).to.deep.equal({ value: "f" });
  });

  it("close refuses the free work waiting and any that comes later", async () => {
    const scheduler = new PriorityScheduler(limits, { spare: () => false });
    const waiting = scheduler.run("free", async () => "a");
    await tick(1);
    scheduler.close();
    expect(await waiting).to.equal(undefined);
    expect(await scheduler.run("free", async () => "b")).to.equal(undefined);
  });

  it("frees the slot when a task throws", async () => {
    const scheduler = new PriorityScheduler(limits);
    await scheduler.run("paid", async () => { throw new Error("boom"); }).catch(() => undefined);
    expect(scheduler.running).to.equal(0);
    expect(await scheduler.run("paid", async () => 1)).to.deep.equal({ value: 1 });
  });
});
