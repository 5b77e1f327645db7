// Ranking (issue 23, part 3): trust, the trusted probes' measures and the signed offer against
// documented floors, then the RTT rule; unknown is not bad but ranks after known-good; every node
// says why it stands where it does.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { Wallet } from "ethers";
import { network } from "hardhat";
import {
  DEFAULT_RANK_POLICY,
  ProviderClient,
  RegistryClient,
  buildNodeEnr,
  rankNodes,
  resolveRankPolicy,
  signOffer,
  verifyNodes,
  type OfferDocument,
  type OfferFields,
  type RankCandidate,
  type SignedOffer,
} from "@status/mailserver-sdk";
import { deployLocal } from "../../deploy/local.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;

type Quality = NonNullable<RankCandidate["quality"]>;

function quality(nodeId: string, over: Partial<Quality> = {}): Quality {
  return {
    nodeId,
    probes: [id(900)],
    reports: 4,
    period: { from: 1_000, to: 4_600 },
    availability: 1,
    completeness: 1,
    latencyP50Ms: 20,
    latencyP99Ms: 60,
    droppedEarly: 0,
    ...over,
  };
}

function offer(nodeId: string, maxAgeSeconds: number, maxBytes = 0): OfferDocument {
  return {
    type: "status-mailserver-offer",
    version: 1,
    nodeId,
    chainId: 31337,
    registry: null,
    escrow: null,
    token: null,
    pricePerMonth: "0",
    months: { min: 1, max: 12 },
    mode: "free",
    free: { queriesPerMinute: 120, burst: 200, maxConcurrent: 4 },
    retention: { maxAgeSeconds, maxBytes },
    capacity: { maxConcurrentQueries: 64, maxPaidQueue: 256 },
    clusterId: 16,
    shards: [32],
    software: "test",
    contact: "ops@example.org",
    issuedAt: 1_000,
  };
}

function node(n: number, over: Partial<RankCandidate> = {}): RankCandidate {
  return { nodeId: id(n), verdict: "trusted", rttMs: 10 * n, offer: null, quality: quality(id(n)), ...over };
}

const order = (ranked: { nodeId: string }[]) => ranked.map((r) => r.nodeId);

describe("selection: ranking nodes (rankNodes)", () => {
  it("ranks a lossy node and a down node last and excludes them, with the floor in the reason", () => {
    const good1 = node(3);
    const good2 = node(4);
    const lossy = node(1, { quality: quality(id(1), { completeness: 0.5 }) }); // fastest RTT, but loses messages
    const down = node(2, { quality: quality(id(2), { availability: 0 }), rttMs: null });
    const ranked = rankNodes([lossy, down, good1, good2]);
    expect(order(ranked)).to.deep.equal([good1.nodeId, good2.nodeId, lossy.nodeId, down.nodeId]);
    expect(ranked.map((r) => r.rank)).to.deep.equal([1, 2, 3, 4]);
    expect(ranked.map((r) => r.excluded)).to.deep.equal([false, false, true, true]);
    expect(ranked.map((r) => r.standing)).to.deep.equal(["good", "good", "below-floor", "below-floor"]);
    expect(ranked[2]!.reasons[0]).to.equal("excluded: had 50% of the probes' messages, below the floor of 90%");
    expect(ranked[3]!.reasons[0]).to.equal("excluded: available 0% of the time, below the floor of 90%");
    expect(ranked[0]!.reasons[0]).to.equal("measured good: above every floor");
    expect(ranked[0]!.reasons).to.include("available 100% of the time (1 probe; floor 90%)");
    expect(ranked[0]!.reasons).to.include("round trip 30 ms");
  });

  it('with belowFloor "last", nodes below a floor stay usable but rank after unknown ones', () => {
    const lossy = node(1, { quality: quality(id(1), { completeness: 0.2 }) });
    const unmeasured = node(5, { quality: null });
    const ranked = rankNodes([lossy, unmeasured, node(3)], { belowFloor: "last" });
    expect(order(ranked)).to.deep.equal([id(3), id(5), id(1)]);
    expect(ranked.every((r) => !r.excluded)).to.equal(true);
    expect(ranked[2]!.reasons[0]).to.match(/^ranked last: had 20% of the probes' messages/);
  });

  it("unknown is not bad: an unmeasured node ranks after measured good ones and before bad ones, and is never excluded", () => {
    const unmeasured = node(1, { quality: null }); // fastest
    const partly = node(2, { quality: quality(id(2), { completeness: null }) });
    const bad = node(3, { quality: quality(id(3), { availability: 0.5 }) });
    const good = node(9);
    const ranked = rankNodes([bad, partly, unmeasured, good]);
    expect(order(ranked)).to.deep.equal([good.nodeId, unmeasured.nodeId, partly.nodeId, bad.nodeId]);
    expect(ranked.map((r) => r.standing)).to.deep.equal(["good", "unknown", "unknown", "below-floor"]);
    expect(ranked[1]!.excluded).to.equal(false);
    expect(ranked[1]!.reasons[0]).to.equal("ranked after measured nodes: no trusted probe has measured it");
    expect(ranked[2]!.reasons[0]).to.equal("ranked after measured nodes: completeness not measured");
  });

  it("ties are broken by the client's RTT, unmeasured RTT last, then by the probes' latency, then by node id", () => {
    const ranked = rankNodes([node(1, { rttMs: 50 }), node(2, { rttMs: 5 }), node(3, { rttMs: null }), node(4, { rttMs: 20 })]);
    expect(order(ranked)).to.deep.equal([id(2), id(4), id(1), id(3)]);
    expect(ranked[3]!.reasons).to.include("round trip not measured");
    // No RTT at all (a web page): the probes' median latency orders them.
    const page = rankNodes([
      node(1, { rttMs: null, quality: quality(id(1), { latencyP50Ms: 90 }) }),
      node(2, { rttMs: null, quality: quality(id(2), { latencyP50Ms: 15 }) }),
      node(3, { rttMs: null, quality: quality(id(3), { latencyP50Ms: null }) }),
    ]);
    expect(order(page)).to.deep.equal([id(2), id(1), id(3)]);
    // Equal in everything: node id.
    expect(order(rankNodes([node(7, { rttMs: 1 }), node(6, { rttMs: 1 })]))).to.deep.equal([id(6), id(7)]);
  });

  it("untrusted nodes are always excluded, whatever their measures; custom nodes rank like trusted ones", () => {
    const ranked = rankNodes([node(1, { verdict: "untrusted" }), node(2, { verdict: "custom" }), node(3)], { belowFloor: "last" });
    expect(order(ranked)).to.deep.equal([id(2), id(3), id(1)]);
    expect(ranked[2]).to.deep.include({ excluded: true, standing: "untrusted" });
    expect(ranked[0]!.reasons).to.include("added by you by hand");
  });

  it("the offer's retention against what the app needs; no offer is unknown; a refused offer says why", () => {
    const week = 7 * 86_400;
    const month = 30 * 86_400;
    const short = node(1, { offer: offer(id(1), week) });
    const long = node(2, { offer: offer(id(2), 90 * 86_400) });
    const unbounded = node(3, { offer: offer(id(3), 0) });
    const none = node(4, { offer: null, offerRefused: "bad-signature: signed by another key" });
    const small = node(5, { offer: offer(id(5), 0, 2 ** 20) });
    const ranked = rankNodes([short, long, unbounded, none, small], { minRetentionSeconds: month, minRetentionBytes: 2 ** 30 });
    expect(order(ranked)).to.deep.equal([id(2), id(3), id(4), id(1), id(5)]);
    expect(ranked[0]!.reasons).to.include("keeps messages 90 days (its offer)");
    expect(ranked[1]!.reasons).to.include("keeps messages without an age limit (its offer)");
    expect(ranked[2]!.reasons[0]).to.equal("ranked after measured nodes: no valid offer, so its retention is unknown");
    expect(ranked[2]!.reasons).to.include("its offer was refused: bad-signature: signed by another key");
    expect(ranked[3]!.reasons[0]).to.equal("excluded: keeps messages 7 days, the app needs 30 days");
    expect(ranked[4]!.reasons[0]).to.equal("excluded: keeps at most 1 MiB, the app needs 1 GiB");
    // Without a retention need, an offer-less node is not held back.
    expect(rankNodes([node(4, { offer: null })])[0]!.standing).to.equal("good");
  });

  it("markers dropped before the advertised retention and a latency ceiling are floors too", () => {
    const dropper = node(1, { quality: quality(id(1), { droppedEarly: 3 }) });
    const slow = node(2, { quality: quality(id(2), { latencyP50Ms: 900 }) });
    const ranked = rankNodes([dropper, slow, node(3)], { maxLatencyP50Ms: 500 });
    expect(order(ranked)).to.deep.equal([id(3), id(1), id(2)]);
    expect(ranked[1]!.reasons[0]).to.equal("excluded: dropped 3 message(s) before its advertised retention");
    expect(ranked[2]!.reasons[0]).to.equal("excluded: answers in 900 ms (median), above the ceiling of 500 ms");
  });

  it("documents its defaults and refuses a floor out of range with INVALID_ARGUMENT", async () => {
    expect(DEFAULT_RANK_POLICY).to.deep.include({ minAvailability: 0.9, minCompleteness: 0.9, maxDroppedEarly: 0, belowFloor: "exclude" });
    expect(resolveRankPolicy({ minAvailability: undefined }).minAvailability).to.equal(0.9);
    for (const bad of [{ minAvailability: 1.5 }, { minCompleteness: -0.1 }, { minRetentionSeconds: Number.NaN }, { belowFloor: "drop" as never }]) {
      await expectSdkError(() => rankNodes([node(1)], bad), "INVALID_ARGUMENT");
    }
    expect(rankNodes([])).to.deep.equal([]);
  });
});

describe("verifyNodes with offers and quality (local deployment)", function () {
  this.timeout(120_000);

  it("verifies each offer against the registry, ranks lossy and down nodes last with reasons, and keeps plain calls as they were", async () => {
    const connection = await network.create();
    const { addresses, chainId } = await deployLocal(connection);
    const [deployer] = await connection.ethers.getSigners();
    const registry = new RegistryClient({ runner: connection.ethers.provider, addresses });
    const provider = new ProviderClient({ runner: deployer!, addresses });
    const price = 10n ** 18n;
    const keys = Array.from({ length: 5 }, () => `0x${randomBytes(32).toString("hex")}`);
    const ids: string[] = [];
    for (const [i, key] of keys.entries()) {
      const { enr } = buildNodeEnr({ privateKey: key, ip: "127.0.0.1", udp: 31000 + i, tcp: 31000 + i });
      ids.push((await provider.addNode({ nodeKey: key, record: enr, pricePerMonth: price })).nodeId);
    }
    const now = Math.floor(Date.now() / 1000);
    const fields = (priceText: string): OfferFields => {
      const { type: _t, version: _v, nodeId: _n, ...rest } = offer(ids[0]!, 30 * 86_400);
      return { ...rest, chainId: Number(chainId), registry: addresses.registry, pricePerMonth: priceText, issuedAt: now };
    };
    const offers = new Map<string, SignedOffer>();
    offers.set(ids[0]!, await signOffer(keys[0]!, fields(price.toString())));
    offers.set(ids[1]!, await signOffer(keys[1]!, fields("1"))); // disagrees with the registry
    const genuine = await signOffer(keys[2]!, fields(price.toString()));
    const forger = Wallet.createRandom();
    offers.set(ids[2]!, { offer: genuine.offer, signature: await forger.signMessage(new TextEncoder().encode(JSON.stringify(genuine.offer))) });
    const measured = new Map([
      [ids[0]!, quality(ids[0]!)],
      [ids[1]!, quality(ids[1]!)],
      [ids[2]!, quality(ids[2]!)],
      [ids[3]!, quality(ids[3]!, { completeness: 0.3 })], // lossy
      [ids[4]!, quality(ids[4]!, { availability: 0 })], // down
    ]);
    const rtt = new Map(ids.map((id, i) => [id, 50 - i])); // the lossy and down nodes answer fastest

    const plain = await verifyNodes(registry, [...ids].reverse());
    expect(plain.map((v) => v.nodeId)).to.deep.equal([...ids].reverse()); // input order, nothing added
    expect(plain.every((v) => v.ranking === undefined && v.offer === undefined)).to.equal(true);

    const ranked = await verifyNodes(registry, ids, { offers, quality: measured, rttMs: rtt });
    expect(ranked.map((v) => v.nodeId)).to.deep.equal([ids[2], ids[1], ids[0], ids[4], ids[3]]); // below a floor: last, still by RTT
    expect(ranked.map((v) => v.ranking!.rank)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(ranked.map((v) => v.ranking!.excluded)).to.deep.equal([false, false, false, true, true]);
    const byId = new Map(ranked.map((v) => [v.nodeId!, v]));
    expect(byId.get(ids[0]!)!.offer).to.deep.include({ valid: true, pricePerMonth: price, mismatches: [] });
    expect(byId.get(ids[1]!)!.offer).to.deep.include({ valid: true, pricePerMonth: price });
    expect(byId.get(ids[1]!)!.ranking!.reasons).to.include(`its offer says 1 a month, the registry ${price}: the registry's price applies`);
    expect(byId.get(ids[2]!)!.offer).to.deep.include({ valid: false, reason: "bad-signature" });
    expect(byId.get(ids[2]!)!.ranking!.reasons.some((r) => r.startsWith("its offer was refused: bad-signature"))).to.equal(true);
    expect(byId.get(ids[3]!)!.ranking!.reasons[0]).to.equal("excluded: had 30% of the probes' messages, below the floor of 90%");
    expect(byId.get(ids[4]!)!.ranking!.reasons[0]).to.equal("excluded: available 0% of the time, below the floor of 90%");
    expect(byId.get(ids[0]!)!.quality).to.deep.equal(quality(ids[0]!));
    // The app needs 60 days: a 30-day offer is below that floor; a refused offer is unknown.
    const needy = await verifyNodes(registry, ids.slice(0, 3), { offers, quality: measured, rank: { minRetentionSeconds: 60 * 86_400 } });
    expect(needy[0]!.nodeId).to.equal(ids[2]);
    expect(Object.fromEntries(needy.map((v) => [v.nodeId, v.ranking!.standing]))).to.deep.equal({ [ids[2]!]: "unknown", [ids[0]!]: "below-floor", [ids[1]!]: "below-floor" });
  });
});
