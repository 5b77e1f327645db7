// Signed probe reports (issue 23, part 2): signing and canonical round trip, every refusal with its
// reason (forged, untrusted probe, wrong chain or registry, stale, from the future, malformed,
// oversized), the summary's maths, the registry's trusted probes, and the bounded HTTP read.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Wallet } from "ethers";
import { network } from "hardhat";
import {
  CuratorClient,
  MAX_PROBE_REPORT_BYTES,
  MAX_PROBE_REPORT_NODES,
  PROBE_KIND_NAME,
  PROBE_REPORT_TYPE,
  ProviderClient,
  RegistryClient,
  TrustPolicy,
  decodeProbeReport,
  encodeProbeReport,
  fetchProbeReportsHttp,
  nodeIdFromPrivateKey,
  parseProbeReportDocument,
  signProbeReport,
  summarizeReports,
  trustedProbeIds,
  verifyProbeReport,
  type NodeMeasure,
  type ProbeReportDocument,
  type ProbeReportFields,
  type SignedProbeReport,
} from "@status/mailserver-sdk";
import { deployLocal } from "../../deploy/local.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const NOW = 1_800_000_000;
const nodeA = `0x${"a1".repeat(32)}`;
const nodeB = `0x${"b2".repeat(32)}`;

function measure(nodeId: string, over: Partial<NodeMeasure> = {}): NodeMeasure {
  return {
    nodeId,
    availability: { attempts: 3, successes: 3 },
    latencyMs: { samples: 5, p50: 12, p99: 40 },
    completeness: { markers: 4, found: 4, medianDelayMs: 900 },
    retention: { checked: 4, droppedEarly: 0, keptPastAdvertised: 0 },
    ...over,
  };
}

function fields(over: Partial<ProbeReportFields> = {}): ProbeReportFields {
  return { chainId: 31337, registry: REGISTRY, periodStart: NOW - 300, periodEnd: NOW - 10, issuedAt: NOW - 5, nodes: [measure(nodeA), measure(nodeB)], ...over };
}

describe("probe reports: sign, parse, verify, summarize", function () {
  const key = randomBytes(32);
  const probeId = nodeIdFromPrivateKey(key);
  const trust = { trustedProbes: [probeId], chainId: 31337, registry: REGISTRY, now: NOW };

  it("round trip: signed by the probe key, canonical bytes, accepted by verify", async () => {
    const signed = await signProbeReport(key, fields());
    expect(signed.report).to.deep.include({ type: PROBE_REPORT_TYPE, version: 1, probeNodeId: probeId, chainId: 31337, registry: REGISTRY });
    const bytes = encodeProbeReport(signed);
    const decoded = decodeProbeReport(bytes);
    expect(decoded).to.deep.equal(signed);
    expect(encodeProbeReport(decoded)).to.deep.equal(bytes);
    expect(verifyProbeReport(decoded, trust)).to.deep.equal({ ok: true, report: signed.report });
    // Field order and case on the wire do not change what is signed.
    const { nodes, ...rest } = signed.report;
    const shuffled = { report: { nodes, ...rest, probeNodeId: probeId.toUpperCase().replace("0X", "0x"), registry: REGISTRY.toLowerCase() }, signature: signed.signature };
    const again = decodeProbeReport(new TextEncoder().encode(JSON.stringify(shuffled)));
    expect(verifyProbeReport(again, trust).ok).to.equal(true);
  });

  it("a report signed by another key (forged), or altered after signing, is bad-signature", async () => {
    const genuine = await signProbeReport(key, fields());
    const forger = new Wallet(`0x${randomBytes(32).toString("hex")}`);
    const forged: SignedProbeReport = { report: genuine.report, signature: await forger.signMessage(new TextEncoder().encode(JSON.stringify(genuine.report))) };
    expect(verifyProbeReport(forged, trust)).to.deep.include({ ok: false, reason: "bad-signature" });
    const flattering: SignedProbeReport = { report: { ...genuine.report, nodes: [measure(nodeA, { availability: { attempts: 3, successes: 3 } }), measure(nodeB, { completeness: { markers: 4, found: 0, medianDelayMs: null } })] }, signature: genuine.signature };
    expect(verifyProbeReport(flattering, trust)).to.deep.include({ ok: false, reason: "bad-signature" });
    // A zero signature recovers to no key at all.
    expect(verifyProbeReport({ report: genuine.report, signature: `0x${"00".repeat(65)}` }, trust)).to.deep.include({ ok: false, reason: "bad-signature" });
  });

  it("a correctly signed report of a probe not trusted is untrusted-probe; wrong chain, registry, stale and future are refused", async () => {
    const other = randomBytes(32);
    const untrusted = await signProbeReport(other, fields());
    expect(verifyProbeReport(untrusted, trust)).to.deep.include({ ok: false, reason: "untrusted-probe" });
    expect(verifyProbeReport(untrusted, { ...trust, trustedProbes: [nodeIdFromPrivateKey(other)] }).ok).to.equal(true);
    const signed = await signProbeReport(key, fields());
    expect(verifyProbeReport(signed, { ...trust, chainId: 1 })).to.deep.include({ ok: false, reason: "wrong-chain" });
    expect(verifyProbeReport(signed, { ...trust, registry: "0x0000000000000000000000000000000000000001" })).to.deep.include({ ok: false, reason: "wrong-registry" });
    expect(verifyProbeReport(signed, { ...trust, registry: REGISTRY.toLowerCase() }).ok).to.equal(true);
    await expectSdkError(() => verifyProbeReport(signed, { ...trust, registry: "registry" }), "INVALID_ARGUMENT");
    await expectSdkError(() => verifyProbeReport(signed, { ...trust, trustedProbes: ["0x12"] }), "INVALID_ARGUMENT");
    expect(verifyProbeReport(signed, { ...trust, now: NOW + 86_400 })).to.deep.include({ ok: false, reason: "stale" });
    expect(verifyProbeReport(signed, { ...trust, now: NOW + 3600, maxAgeSeconds: 7200 }).ok).to.equal(true);
    expect(verifyProbeReport(signed, { ...trust, now: NOW - 3600 })).to.deep.include({ ok: false, reason: "from-future" });
  });

  it("malformed documents are refused field by field (INVALID_PROBE_REPORT), and verify says malformed", async () => {
    const good = (await signProbeReport(key, fields())).report;
    const bad: [string, unknown][] = [
      ["type", { ...good, type: "status-mailserver-offer" }],
      ["version", { ...good, version: 2 }],
      ["extra field", { ...good, extra: 1 }],
      ["missing field", (({ issuedAt: _, ...r }) => r)(good)],
      ["probe id", { ...good, probeNodeId: "0x1234" }],
      ["registry", { ...good, registry: "nope" }],
      ["period", { ...good, periodStart: good.periodEnd + 1 }],
      ["issued before the period ends", { ...good, issuedAt: good.periodEnd - 1 }],
      ["node id", { ...good, nodes: [measure("0xabc")] }],
      ["negative count", { ...good, nodes: [measure(nodeA, { availability: { attempts: -1, successes: 0 } })] }],
      ["fraction", { ...good, nodes: [measure(nodeA, { availability: { attempts: 1.5, successes: 0 } })] }],
      ["successes above attempts", { ...good, nodes: [measure(nodeA, { availability: { attempts: 1, successes: 2 } })] }],
      ["found above markers", { ...good, nodes: [measure(nodeA, { completeness: { markers: 1, found: 2, medianDelayMs: 1 } })] }],
      ["dropped above checked", { ...good, nodes: [measure(nodeA, { retention: { checked: 0, droppedEarly: 1, keptPastAdvertised: 0 } })] }],
      ["latency without samples", { ...good, nodes: [measure(nodeA, { latencyMs: { samples: 0, p50: 3, p99: 4 } })] }],
      ["p50 above p99", { ...good, nodes: [measure(nodeA, { latencyMs: { samples: 2, p50: 30, p99: 4 } })] }],
      ["delay without a find", { ...good, nodes: [measure(nodeA, { completeness: { markers: 1, found: 0, medianDelayMs: 5 } })] }],
      ["a node twice", { ...good, nodes: [measure(nodeA), measure(nodeA)] }],
      ["too many nodes", { ...good, nodes: Array.from({ length: MAX_PROBE_REPORT_NODES + 1 }, (_, i) => measure(`0x${i.toString(16).padStart(64, "0")}`)) }],
      ["not an object", "report"],
    ];
    for (const [what, doc] of bad) {
      const error = await expectSdkError(() => parseProbeReportDocument(doc), "INVALID_PROBE_REPORT");
      expect(error.message, what).to.match(/^invalid probe report: /);
      const verdict = verifyProbeReport({ report: doc as ProbeReportDocument, signature: `0x${"11".repeat(65)}` }, trust);
      expect(verdict, what).to.deep.include({ ok: false, reason: "malformed" });
    }
    expect(verifyProbeReport({ report: good, signature: "0x1234" }, trust)).to.deep.include({ ok: false, reason: "malformed" });
    await expectSdkError(() => decodeProbeReport(new TextEncoder().encode("not json")), "INVALID_PROBE_REPORT");
    await expectSdkError(() => decodeProbeReport(Uint8Array.of(0xff, 0xfe)), "INVALID_PROBE_REPORT");
    await expectSdkError(() => decodeProbeReport(new TextEncoder().encode(JSON.stringify({ report: good }))), "INVALID_PROBE_REPORT");
  });

  it("oversized reports are neither signed nor decoded", async () => {
    await expectSdkError(() => decodeProbeReport(new Uint8Array(MAX_PROBE_REPORT_BYTES + 1)), "INVALID_PROBE_REPORT");
    // 256 nodes of long figures fit the node bound but not the byte bound.
    const big = Number.MAX_SAFE_INTEGER;
    const nodes = Array.from({ length: MAX_PROBE_REPORT_NODES }, (_, i) =>
      measure(`0x${i.toString(16).padStart(64, "0")}`, { availability: { attempts: big, successes: big }, latencyMs: { samples: big, p50: big, p99: big }, completeness: { markers: big, found: big, medianDelayMs: big } }),
    );
    const error = await expectSdkError(signProbeReport(key, fields({ nodes })), "INVALID_PROBE_REPORT");
    expect(error.details.size).to.be.above(MAX_PROBE_REPORT_BYTES);
  });

  it("summarize: counts add across reports and probes, latency is the median of p50s and the max of p99s, window and duplicates", async () => {
    const other = randomBytes(32);
    const r1 = (await signProbeReport(key, fields({ periodStart: NOW - 600, periodEnd: NOW - 300, issuedAt: NOW - 300, nodes: [
      measure(nodeA, { availability: { attempts: 3, successes: 3 }, latencyMs: { samples: 5, p50: 10, p99: 50 }, completeness: { markers: 4, found: 4, medianDelayMs: 100 } }),
      measure(nodeB, { availability: { attempts: 3, successes: 0 }, latencyMs: { samples: 0, p50: null, p99: null }, completeness: { markers: 4, found: 0, medianDelayMs: null } }),
    ] }))).report;
    const r2 = (await signProbeReport(key, fields({ periodStart: NOW - 300, periodEnd: NOW, issuedAt: NOW, nodes: [
      measure(nodeA, { availability: { attempts: 3, successes: 2 }, latencyMs: { samples: 5, p50: 30, p99: 90 }, completeness: { markers: 4, found: 3, medianDelayMs: 100 } }),
    ] }))).report;
    const r3 = (await signProbeReport(other, fields({ periodStart: NOW - 400, periodEnd: NOW - 100, issuedAt: NOW - 100, nodes: [
      measure(nodeA, { availability: { attempts: 2, successes: 2 }, latencyMs: { samples: 5, p50: 20, p99: 60 }, completeness: { markers: 2, found: 1, medianDelayMs: 100 }, retention: { checked: 2, droppedEarly: 1, keptPastAdvertised: 0 } }),
    ] }))).report;
    const old = (await signProbeReport(key, fields({ periodStart: NOW - 90_000, periodEnd: NOW - 89_000, issuedAt: NOW - 89_000, nodes: [
      measure(nodeA, { availability: { attempts: 100, successes: 0 } }),
    ] }))).report;
    // r1 twice: once from HTTP, once from a store node.
    const q = summarizeReports([r1, r2, r3, old, r1], { now: NOW });
    const a = q.get(nodeA)!;
    expect(a).to.deep.equal({
      nodeId: nodeA,
      probes: [probeId, nodeIdFromPrivateKey(other)].sort(),
      reports: 3,
      period: { from: NOW - 600, to: NOW },
      availability: 7 / 8,
      completeness: 8 / 10,
      latencyP50Ms: 20,
      latencyP99Ms: 90,
      droppedEarly: 1,
    });
    const b = q.get(nodeB)!;
    expect(b).to.deep.include({ reports: 1, availability: 0, completeness: 0, latencyP50Ms: null, latencyP99Ms: null });
    // An even count of p50s: the mean of the middle two; nothing measured: null, not 0.
    const even = summarizeReports([r1, r2], { now: NOW }).get(nodeA)!;
    expect(even.latencyP50Ms).to.equal(20);
    const nothing = (await signProbeReport(key, fields({ nodes: [measure(nodeA, { availability: { attempts: 0, successes: 0 }, latencyMs: { samples: 0, p50: null, p99: null }, completeness: { markers: 0, found: 0, medianDelayMs: null } })] }))).report;
    expect(summarizeReports([nothing], { now: NOW }).get(nodeA)).to.deep.include({ availability: null, completeness: null, latencyP50Ms: null });
    // A wider window takes the old report in.
    expect(summarizeReports([r1, old], { now: NOW, windowSeconds: 100_000 }).get(nodeA)!.availability).to.equal(3 / 103);
  });

  describe("over HTTP", () => {
    let server: Server;
    let answer: (res: import("node:http").ServerResponse) => void = (res) => res.end();
    let base: string;
    before(async () => {
      server = createServer((_req, res) => answer(res));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it("reads a probe's reports; refuses oversized, malformed and silent answers with codes", async () => {
      const signed = await signProbeReport(key, fields());
      answer = (res) => res.end(JSON.stringify({ reports: [signed, signed] }));
      const got = await fetchProbeReportsHttp(`${base}/reports`);
      expect(got).to.deep.equal([signed, signed]);
      answer = (res) => res.end(JSON.stringify({ reports: [{ report: { ...signed.report, version: 9 }, signature: signed.signature }] }));
      await expectSdkError(fetchProbeReportsHttp(`${base}/reports`), "INVALID_PROBE_REPORT");
      answer = (res) => res.end("[]");
      await expectSdkError(fetchProbeReportsHttp(`${base}/reports`), "INVALID_PROBE_REPORT");
      // No content-length, more bytes than the bound: refused as they arrive.
      answer = (res) => {
        res.write("x".repeat(2000));
        res.end("x".repeat(2000));
      };
      await expectSdkError(fetchProbeReportsHttp(`${base}/reports`, { maxBytes: 1000 }), "INVALID_PROBE_REPORT");
      answer = (res) => {
        res.statusCode = 503;
        res.end();
      };
      await expectSdkError(fetchProbeReportsHttp(`${base}/reports`), "NODE_UNAVAILABLE");
      answer = () => undefined; // never answers
      await expectSdkError(fetchProbeReportsHttp(`${base}/reports`, { timeoutMs: 300 }), "NODE_UNAVAILABLE");
    });
  });

  it("trustedProbeIds: active probes of approved providers, once a curator enabled the kind", async () => {
    const connection = await network.create();
    try {
      const deployment = await deployLocal(connection);
      const [deployer, second] = await connection.ethers.getSigners();
      const chainId = deployment.chainId;
      const addresses = deployment.addresses;
      const reader = new RegistryClient({ runner: connection.ethers.provider, chainId, addresses });
      const curator = new CuratorClient({ runner: deployer!, chainId, addresses });
      const p1 = new ProviderClient({ runner: deployer!, chainId, addresses });
      const p2 = new ProviderClient({ runner: second!, chainId, addresses });
      const probeKey = Wallet.createRandom().privateKey;
      // The kind must be enabled first.
      await expectSdkError(p1.addNode({ nodeKey: probeKey, kind: PROBE_KIND_NAME, record: "/ip4/10.0.0.9/tcp/8080", pricePerMonth: 0 }), "KIND_NOT_ENABLED");
      await curator.setKindEnabled(PROBE_KIND_NAME, true);
      expect(await trustedProbeIds(reader)).to.deep.equal([]);
      const { nodeId } = await p1.addNode({ nodeKey: probeKey, kind: PROBE_KIND_NAME, record: "/ip4/10.0.0.9/tcp/8080", pricePerMonth: 0 });
      // A mail server of the same provider is not a probe.
      await p1.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.0.0.8/tcp/30303", pricePerMonth: 0 });
      // A probe of a provider that applied but was never approved cannot even be added; one approved then suspended stops counting.
      await p2.applyAsProvider({ name: "Community probes", metadataURI: "" });
      await curator.approveProvider(await second!.getAddress());
      const { nodeId: communityProbe } = await p2.addNode({ nodeKey: Wallet.createRandom().privateKey, kind: PROBE_KIND_NAME, record: "/ip4/10.0.0.7/tcp/8080", pricePerMonth: 0 });
      expect((await trustedProbeIds(reader)).sort()).to.deep.equal([nodeId, communityProbe].sort());
      // With the user's policy: only the default provider's probe.
      expect(await trustedProbeIds(reader, { policy: new TrustPolicy() })).to.deep.equal([nodeId]);
      await curator.suspendProvider(await second!.getAddress());
      expect(await trustedProbeIds(reader)).to.deep.equal([nodeId]);
      await p1.setNodeActive(nodeId, false);
      expect(await trustedProbeIds(reader)).to.deep.equal([]);
      await p1.setNodeActive(nodeId, true);
      await curator.setKindEnabled(PROBE_KIND_NAME, false);
      expect(await trustedProbeIds(reader)).to.deep.equal([]);
    } finally {
      await connection.close?.();
    }
  });
});
