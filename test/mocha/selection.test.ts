// Mail-server selection with real discv5 nodes on loopback and an injected verifier:
// discover -> one batched verify -> reject untrusted -> probe -> fastest quarter; graylisting,
// pinned and custom nodes, subscription preference.
import { expect } from "chai";
import { ethers } from "ethers";
import { ENR } from "@chainsafe/enr";
import {
  StaticEnrSource,
  buildNodeEnr,
  type DiscoverySource,
  MailserverSdkError,
} from "@status/mailserver-sdk";
import {
  Discv5CrawlerSource,
  findFreeUdpPort,
  startDiscv5Node,
  startMailserverDiscovery,
  type MailserverDiscoveryHandle,
  MailserverSelector,
  createDiscv5Probe,
  probeEach,
  type ProbeFn,
  type SelectorEvents,
  type VerifiedNodeLike,
} from "@status/mailserver-sdk/discovery";

const LOOPBACK = "127.0.0.1";
const QUICK = { requestTimeout: 400 };

function newKey(): string {
  return ethers.Wallet.createRandom().privateKey;
}

type Verdict = Omit<VerifiedNodeLike, "nodeId">;

/** A verifier answering from a table (unknown nodes: untrusted, not registered) that records its calls. */
function fakeVerify(table: Map<string, Verdict>) {
  const calls: string[][] = [];
  const verify = async (enrs: string[]): Promise<VerifiedNodeLike[]> => {
    calls.push(enrs);
    return enrs.map((enr) => {
      const nodeId = buildNodeIdOf(enr);
      return { nodeId, ...(table.get(nodeId) ?? { status: "untrusted", reasons: ["not-registered"] }) };
    });
  };
  return { verify, calls };
}

function buildNodeIdOf(enr: string): string {
  return `0x${ENR.decodeTxt(enr).nodeId}`;
}

/** Records every event of a selector. */
function recordEvents(selector: MailserverSelector) {
  const log: { [K in keyof SelectorEvents]: Parameters<SelectorEvents[K]>[0][] } = {
    discovered: [],
    verified: [],
    rejected: [],
    unreachable: [],
    ranked: [],
    selected: [],
    graylisted: [],
  };
  for (const name of Object.keys(log) as (keyof SelectorEvents)[]) {
    selector.on(name, ((payload: never) => (log[name] as unknown[]).push(payload)) as never);
  }
  return log;
}

/** A probe answering from a table of RTTs (missing: unreachable), recording what it was asked. */
function tableProbe(rtts: Map<string, number>) {
  const asked: string[][] = [];
  const probe: ProbeFn = async (targets) => {
    asked.push(targets.map((t) => t.nodeId));
    return targets.map((t) => (rtts.has(t.nodeId) ? { nodeId: t.nodeId, rttMs: rtts.get(t.nodeId)! } : { nodeId: t.nodeId, error: "timeout" }));
  };
  return { probe, asked };
}

function staticEnrs(n: number) {
  return Array.from({ length: n }, (_, i) => buildNodeEnr({ privateKey: newKey(), ip: LOOPBACK, udp: 40000 + i }));
}

describe("selection: choosing among verified nodes (deterministic probe)", () => {
  const nodes = staticEnrs(8);
  const ids = nodes.map((n) => n.nodeId);
  const trustedTable = () => new Map<string, Verdict>(ids.map((id) => [id, { status: "trusted", reasons: [] }]));
  // RTT of node i is 10 * (i + 1): node 0 is the fastest.
  const rtts = new Map(ids.map((id, i) => [id, 10 * (i + 1)]));

  it("picks at random among the fastest quarter", async () => {
    const { verify } = fakeVerify(trustedTable());
    const picks = new Set<string>();
    for (const r of [0, 0.3, 0.49, 0.5, 0.99]) {
      const selector = new MailserverSelector({ sources: [new StaticEnrSource(nodes.map((n) => n.enr))], verify, probe: tableProbe(rtts).probe, random: () => r });
      const selected = await selector.select();
      picks.add(selected.nodeId);
      expect(selected.status).to.equal("trusted");
      expect(selected.pinned).to.equal(false);
      expect(selected.rttMs).to.equal(rtts.get(selected.nodeId));
    }
    // 8 reachable nodes: a quarter is 2, the two fastest.
    expect([...picks].sort()).to.deep.equal([ids[0], ids[1]].sort());
  });

  it("verifies everything in one call, reports untrusted nodes and never selects them", async () => {
    const table = trustedTable();
    table.set(ids[0]!, { status: "untrusted", reasons: ["provider-not-approved"] });
    table.set(ids[1]!, { status: "untrusted", reasons: ["not-registered"] });
    const { verify, calls } = fakeVerify(table);
    const { probe, asked } = tableProbe(rtts);
    const selector = new MailserverSelector({ sources: [new StaticEnrSource(nodes.map((n) => n.enr))], verify, probe, random: () => 0 });
    const events = recordEvents(selector);
    const selected = await selector.select();
    expect(calls).to.have.length(1);
    expect(calls[0]).to.have.length(8);
    expect(events.rejected.map((r) => [r.nodeId, r.reasons])).to.deep.equal([
      [ids[0], ["provider-not-approved"]],
      [ids[1], ["not-registered"]],
    ]);
    expect(events.verified[0]!.accepted).to.have.length(6);
    expect(asked[0]).to.not.include(ids[0]).and.not.include(ids[1]);
    expect(selected.nodeId).to.equal(ids[2]);
    expect(events.selected[0]).to.include({ poolSize: 6, fastest: 1 });
    expect(events.discovered[0]!.nodes).to.have.length(8);
  });

  it("refuses trusted nodes whose ENR differs from the registered record (unless told not to)", async () => {
    const table = trustedTable();
    table.set(ids[0]!, { status: "trusted", reasons: [], endpointMismatch: true });
    const sources = [new StaticEnrSource(nodes.map((n) => n.enr))];
    const strict = new MailserverSelector({ sources, verify: fakeVerify(table).verify, probe: tableProbe(rtts).probe, random: () => 0 });
    const events = recordEvents(strict);
    expect((await strict.select()).nodeId).to.equal(ids[1]);
    expect(events.rejected.map((r) => r.reasons)).to.deep.equal([["endpoint-mismatch"]]);
    const lax = new MailserverSelector({ sources, verify: fakeVerify(table).verify, probe: tableProbe(rtts).probe, random: () => 0, rejectEndpointMismatch: false });
    expect((await lax.select()).nodeId).to.equal(ids[0]);
  });

  it("prefers nodes with an active subscription", async () => {
    const selector = new MailserverSelector({
      sources: [new StaticEnrSource(nodes.map((n) => n.enr))],
      verify: fakeVerify(trustedTable()).verify,
      probe: tableProbe(rtts).probe,
      random: () => 0,
      preferSubscribed: async (nodeId) => nodeId === ids[6] || nodeId === ids[7],
    });
    const selected = await selector.select();
    expect(selected.nodeId).to.equal(ids[6]);
    expect(selected.subscribed).to.equal(true);
    // Nobody subscribed (or the check throws): plain RTT order.
    const plain = new MailserverSelector({
      sources: [new StaticEnrSource(nodes.map((n) => n.enr))],
      verify: fakeVerify(trustedTable()).verify,
      probe: tableProbe(rtts).probe,
      random: () => 0,
      preferSubscribed: () => {
        throw new Error("rpc down");
      },
    });
    expect(await plain.select()).to.include({ nodeId: ids[0], subscribed: false });
  });

  it("ranks with the probes' quality and the offers: a lossy and a down node are never drawn, however fast; reasons in `ranked`", async () => {
    const q = (nodeId: string, availability: number, completeness: number) => ({
      nodeId, probes: ["0xprobe"], reports: 3, period: { from: 0, to: 3600 }, availability, completeness, latencyP50Ms: 20, latencyP99Ms: 40, droppedEarly: 0,
    });
    // Nodes 0 and 1 are the fastest, but node 0 loses messages and node 1 was down for the probes.
    const quality = new Map(ids.map((id) => [id, q(id, 1, 1)]));
    quality.set(ids[0]!, q(ids[0]!, 1, 0.4));
    quality.set(ids[1]!, q(ids[1]!, 0.1, 1));
    quality.delete(ids[2]!); // never measured: unknown, after the measured good ones
    const offersAsked: string[][] = [];
    const selector = new MailserverSelector({
      sources: [new StaticEnrSource(nodes.map((n) => n.enr))],
      verify: fakeVerify(trustedTable()).verify,
      probe: tableProbe(rtts).probe,
      random: () => 0,
      quality: () => quality,
      offers: async (targets) => {
        offersAsked.push(targets.map((t) => t.nodeId));
        return new Map([[ids[3]!, { valid: false as const, reason: "bad-signature" as const, message: "forged", offer: {} as never }]]);
      },
    });
    const events = recordEvents(selector);
    const selected = await selector.select();
    expect(selected.nodeId).to.equal(ids[3]); // the fastest measured good node
    expect(selected.ranking).to.deep.include({ rank: 1, excluded: false, standing: "good" });
    expect(offersAsked).to.have.length(1);
    const ranked = events.ranked[0]!.nodes;
    expect(ranked.map((n) => n.nodeId)).to.deep.equal([ids[3], ids[4], ids[5], ids[6], ids[7], ids[2], ids[0], ids[1]]);
    expect(ranked.slice(-2).map((n) => n.ranking.reasons[0])).to.deep.equal([
      "excluded: had 40% of the probes' messages, below the floor of 90%",
      "excluded: available 10% of the time, below the floor of 90%",
    ]);
    expect(ranked[0]!.ranking.reasons).to.include("its offer was refused: bad-signature: forged");
    // Excluded nodes are not candidates; the draw takes the first quarter of the 6 usable ones.
    expect(selector.candidates.map((c) => c.nodeId)).to.deep.equal(ranked.slice(0, 6).map((n) => n.nodeId));
    expect(events.selected[0]).to.include({ poolSize: 6, fastest: 1 });
  });

  it("offers or quality that cannot be had are reported and the RTT rule applies alone", async () => {
    const selector = new MailserverSelector({
      sources: [new StaticEnrSource(nodes.map((n) => n.enr))],
      verify: fakeVerify(trustedTable()).verify,
      probe: tableProbe(rtts).probe,
      random: () => 0,
      quality: () => {
        throw new Error("no report URL answered");
      },
      offers: async () => Promise.reject(new Error("dial failed")),
    });
    const events = recordEvents(selector);
    expect((await selector.select()).nodeId).to.equal(ids[0]);
    expect(events.ranked[0]!.errors).to.deep.equal(["offers: dial failed", "quality: no report URL answered"]);
    expect(events.ranked[0]!.nodes.every((n) => n.ranking.standing === "unknown" && !n.ranking.excluded)).to.equal(true);
  });

  it("custom nodes are candidates even when the registry does not know them", async () => {
    const custom = buildNodeEnr({ privateKey: newKey(), ip: LOOPBACK, udp: 41000 });
    const table = new Map<string, Verdict>(); // nothing trusted
    const { verify, calls } = fakeVerify(table);
    const selector = new MailserverSelector({
      sources: [new StaticEnrSource(nodes.slice(0, 2).map((n) => n.enr))],
      customNodes: [custom.enr],
      verify,
      probe: tableProbe(new Map([...rtts, [custom.nodeId, 99]])).probe,
    });
    const events = recordEvents(selector);
    const selected = await selector.select();
    expect(selected).to.include({ nodeId: custom.nodeId, status: "custom", userAdded: true });
    expect(selected.verification.reasons).to.deep.equal(["not-registered"]);
    expect(calls[0]).to.include(custom.enr);
    expect(events.rejected).to.have.length(2);
  });

  it("fails with NO_NODE_AVAILABLE when nothing usable is left", async () => {
    const selector = new MailserverSelector({ sources: [new StaticEnrSource(nodes.map((n) => n.enr))], verify: fakeVerify(new Map()).verify, probe: tableProbe(rtts).probe });
    let error: unknown;
    try {
      await selector.select();
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(MailserverSdkError).with.property("code", "NO_NODE_AVAILABLE");
  });

  it("graylists after two consecutive failures, moves on, and forgives after graylistMs", async () => {
    let now = 1_000_000;
    let discoveries = 0;
    const counting: DiscoverySource = { name: "counting", discover: async () => (discoveries++, nodes.map((n) => n.enr)) };
    const selector = new MailserverSelector({ sources: [counting], verify: fakeVerify(trustedTable()).verify, probe: tableProbe(rtts).probe, random: () => 0, clock: () => now });
    const events = recordEvents(selector);
    const first = await selector.select();
    expect(first.nodeId).to.equal(ids[0]);
    expect(selector.current?.nodeId).to.equal(ids[0]);

    expect(selector.reportFailure(first.nodeId)).to.deep.equal({ failures: 1, graylisted: false });
    selector.reportSuccess(first.nodeId); // resets the count
    expect(selector.reportFailure(first.nodeId).graylisted).to.equal(false);
    const second = selector.reportFailure(first.nodeId, "timeout");
    expect(second).to.deep.equal({ failures: 2, graylisted: true, until: now + 180_000 });
    expect(events.graylisted).to.deep.equal([{ nodeId: ids[0], until: now + 180_000, failures: 2, reason: "timeout" }]);
    expect(selector.current).to.equal(undefined);
    expect(selector.isGraylisted(ids[0]!)).to.equal(true);

    // Moving on uses the cached candidates: no new crawl.
    const next = await selector.select();
    expect(next.nodeId).to.equal(ids[1]);
    expect(discoveries).to.equal(1);

    now += 180_001;
    expect(selector.isGraylisted(ids[0]!)).to.equal(false);
    expect(selector.graylisted()).to.deep.equal([]);
    expect((await selector.select({ refresh: true })).nodeId).to.equal(ids[0]);
    expect(discoveries).to.equal(2);
  });

  it("a node that misses two probes is graylisted", async () => {
    const partial = new Map(rtts);
    partial.delete(ids[0]!);
    const selector = new MailserverSelector({ sources: [new StaticEnrSource(nodes.map((n) => n.enr))], verify: fakeVerify(trustedTable()).verify, probe: tableProbe(partial).probe, random: () => 0 });
    const events = recordEvents(selector);
    expect((await selector.select()).nodeId).to.equal(ids[1]);
    expect(events.unreachable.map((u) => u.nodeId)).to.deep.equal([ids[0]]);
    expect(selector.isGraylisted(ids[0]!)).to.equal(false);
    await selector.select({ refresh: true });
    expect(selector.isGraylisted(ids[0]!)).to.equal(true);
    expect(events.graylisted[0]!.reason).to.match(/^probe: /);
  });

  it("probeEach runs one-node probes in parallel and bounds each by the timeout", async () => {
    const probe = probeEach(async (target) => {
      if (target.nodeId === ids[0]) return new Promise<number>(() => undefined); // never answers
      if (target.nodeId === ids[1]) throw new Error("refused");
      return 5;
    });
    const t0 = Date.now();
    const results = await probe(nodes.slice(0, 3).map((n) => ({ nodeId: n.nodeId, enr: n.enr })), { timeoutMs: 200 });
    expect(Date.now() - t0).to.be.below(1000);
    expect(results).to.deep.equal([
      { nodeId: ids[0], error: "no answer within 200 ms" },
      { nodeId: ids[1], error: "refused" },
      { nodeId: ids[2], rttMs: 5 },
    ]);
  });
});

describe("selection: pinned node", () => {
  const nodes = staticEnrs(3);
  const ids = nodes.map((n) => n.nodeId);
  const table = new Map<string, Verdict>([
    [ids[0]!, { status: "trusted", reasons: [] }],
    [ids[1]!, { status: "untrusted", reasons: ["provider-not-approved"] }],
  ]);
  const noProbe: ProbeFn = async () => {
    throw new Error("a pinned node is not probed");
  };

  it("uses a pinned ENR directly: verified, not discovered, not probed", async () => {
    let discovered = false;
    const source: DiscoverySource = { name: "spy", discover: async () => ((discovered = true), []) };
    const { verify, calls } = fakeVerify(table);
    const selector = new MailserverSelector({ sources: [source], verify, probe: noProbe, pinned: nodes[0]!.enr });
    const selected = await selector.select();
    expect(selected).to.include({ nodeId: ids[0], status: "trusted", pinned: true });
    expect(selected.rttMs).to.equal(undefined);
    expect(calls).to.deep.equal([[nodes[0]!.enr]]);
    expect(discovered).to.equal(false);

    // A pinned ENR is the user's own choice: accepted as custom even when unknown on chain.
    const unknown = new MailserverSelector({ verify, probe: noProbe, pinned: nodes[2]!.enr });
    expect(await unknown.select()).to.include({ nodeId: ids[2], status: "custom", pinned: true });
  });

  it("a pinned node id is found by discovery and must be trusted", async () => {
    const sources = [new StaticEnrSource(nodes.map((n) => n.enr))];
    const ok = new MailserverSelector({ sources, verify: fakeVerify(table).verify, probe: noProbe, pinned: ids[0]!.slice(2) });
    expect(await ok.select()).to.include({ nodeId: ids[0], pinned: true });

    const codeOf = async (pinned: string, extra: { clock?: () => number } = {}) => {
      const s = new MailserverSelector({ sources, verify: fakeVerify(table).verify, probe: noProbe, pinned, ...extra });
      try {
        await s.select();
      } catch (e) {
        return (e as MailserverSdkError).code;
      }
      return "selected";
    };
    expect(await codeOf(ids[1]!)).to.equal("UNTRUSTED_NODE");
    expect(await codeOf(ethers.id("nobody"))).to.equal("UNKNOWN_NODE");
    expect(await codeOf("enr:broken")).to.equal("INVALID_ENR");
  });

  it("a graylisted pinned node is refused with NODE_UNAVAILABLE", async () => {
    const selector = new MailserverSelector({ verify: fakeVerify(table).verify, probe: noProbe, pinned: nodes[0]!.enr });
    await selector.select();
    selector.reportFailure(ids[0]!);
    selector.reportFailure(ids[0]!);
    let code: string | undefined;
    try {
      await selector.select();
    } catch (e) {
      code = (e as MailserverSdkError).code;
    }
    expect(code).to.equal("NODE_UNAVAILABLE");
  });
});

describe("selection: discv5 nodes on loopback (fake verifier)", function () {
  this.timeout(90_000);
  const running: { stop(): Promise<void> }[] = [];
  let servers: MailserverDiscoveryHandle[] = [];
  let plainEnr: string;
  let plainId: string;

  before(async () => {
    // A plain discv5 node (no mail-server key) as the network's boot node, then 6 mail servers.
    const plainKey = newKey();
    const port = await findFreeUdpPort(LOOPBACK);
    const plainBuilt = buildNodeEnr({ privateKey: plainKey, ip: LOOPBACK, udp: port, kind: [] });
    const plainNode = await startDiscv5Node({ privateKey: plainKey, enr: plainBuilt.enr, bindIp: LOOPBACK, port, config: QUICK });
    running.push(plainNode);
    plainEnr = plainNode.enr;
    plainId = plainNode.nodeId;

    servers = [];
    for (let i = 0; i < 6; i++) {
      const s = await startMailserverDiscovery({
        privateKey: newKey(),
        ip: LOOPBACK,
        port: 0,
        bootEnrs: [plainEnr, ...servers.map((x) => x.enr)],
        lookupIntervalMs: 0,
        config: QUICK,
      });
      running.push(s);
      servers.push(s);
    }
    for (const s of servers) await s.lookup();
  });

  after(async () => {
    await Promise.all(running.splice(0).map((n) => n.stop()));
  });

  function crawler() {
    return new Discv5CrawlerSource({ bootEnrs: [plainEnr], bindIp: LOOPBACK, rounds: 4, timeoutMs: 15_000, config: QUICK });
  }

  it("the discv5 probe measures live nodes and times out on a silent one", async () => {
    const probe = createDiscv5Probe({ bindIp: LOOPBACK, pings: 2 });
    const silent = buildNodeEnr({ privateKey: newKey(), ip: LOOPBACK, udp: 9 }); // discard port: nobody answers
    const targets = [...servers.slice(0, 2), silent].map((s) => ({ nodeId: s.nodeId, enr: s.enr }));
    const t0 = Date.now();
    const results = await probe(targets, { timeoutMs: 500 });
    expect(Date.now() - t0).to.be.below(3000);
    expect(results[0]!.rttMs).to.be.a("number").and.be.below(500);
    expect(results[1]!.rttMs).to.be.a("number").and.be.below(500);
    expect(results[2]!.error).to.be.a("string");
  });

  it("crawls, verifies, rejects untrusted, selects only trusted; a stopped node is graylisted and skipped", async () => {
    const [t1, t2, t3, suspended, unregistered, moved] = servers as [MailserverDiscoveryHandle, ...MailserverDiscoveryHandle[]];
    const table = new Map<string, Verdict>([
      [t1.nodeId, { status: "trusted", reasons: [] }],
      [t2!.nodeId, { status: "trusted", reasons: [] }],
      [t3!.nodeId, { status: "trusted", reasons: [] }],
      [suspended!.nodeId, { status: "untrusted", reasons: ["provider-not-approved"] }],
      [moved!.nodeId, { status: "trusted", reasons: [], endpointMismatch: true }],
    ]);
    const { verify, calls } = fakeVerify(table);
    const selector = new MailserverSelector({
      sources: [crawler()],
      verify,
      probeBindIp: LOOPBACK,
      probeTimeoutMs: 500,
      random: () => 0.99, // the last of the fastest quarter
    });
    const events = recordEvents(selector);
    const trusted = new Set([t1.nodeId, t2!.nodeId, t3!.nodeId]);

    const first = await selector.select();
    expect(trusted.has(first.nodeId)).to.equal(true);
    expect(calls).to.have.length(1);
    // The crawler found all six mail servers and skipped the plain node.
    const discoveredIds = events.discovered[0]!.nodes.map((n) => n.nodeId).sort();
    expect(discoveredIds).to.deep.equal(servers.map((s) => s.nodeId).sort());
    expect(discoveredIds).to.not.include(plainId);
    expect(new Set(calls[0]!.map(buildNodeIdOf))).to.deep.equal(new Set(discoveredIds));
    const rejected = new Map(events.rejected.map((r) => [r.nodeId, r.reasons]));
    expect(rejected).to.deep.equal(
      new Map<string, readonly string[]>([
        [suspended!.nodeId, ["provider-not-approved"]],
        [unregistered!.nodeId, ["not-registered"]],
        [moved!.nodeId, ["endpoint-mismatch"]],
      ]),
    );
    expect(selector.candidates.map((c) => c.nodeId).sort()).to.deep.equal([...trusted].sort());
    for (const c of selector.candidates) expect(c.rttMs).to.be.a("number");

    // The selected node goes down mid-test: two failed requests graylist it; the selector moves on.
    const down = servers.find((s) => s.nodeId === first.nodeId)!;
    await down.stop();
    selector.reportFailure(first.nodeId, "request timed out");
    expect(selector.current?.nodeId).to.equal(first.nodeId);
    selector.reportFailure(first.nodeId, "request timed out");
    expect(events.graylisted.map((g) => g.nodeId)).to.deep.equal([first.nodeId]);
    expect(selector.current).to.equal(undefined);

    const second = await selector.select();
    expect(second.nodeId).to.not.equal(first.nodeId);
    expect(trusted.has(second.nodeId)).to.equal(true);

    // A full refresh still skips it (graylisted nodes are not even probed).
    const third = await selector.select({ refresh: true });
    expect(third.nodeId).to.not.equal(first.nodeId);
    expect(events.unreachable.map((u) => u.nodeId)).to.not.include(first.nodeId);
  });

  it("a pinned node is used directly", async () => {
    const live = servers.filter((s) => (s.discv5 as { isStarted(): boolean }).isStarted());
    const pin = live[live.length - 1]!;
    const { verify, calls } = fakeVerify(new Map([[pin.nodeId, { status: "trusted", reasons: [] }]]));
    let probed = false;
    const selector = new MailserverSelector({
      sources: [crawler()],
      verify,
      probe: async () => ((probed = true), []),
      pinned: pin.enr,
    });
    const selected = await selector.select();
    expect(selected).to.include({ nodeId: pin.nodeId, pinned: true, status: "trusted" });
    expect(calls).to.deep.equal([[pin.enr]]);
    expect(probed).to.equal(false);
  });
});
