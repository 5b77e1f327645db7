// The signed offer (issue 23, part 1): a real server on loopback serves it over
// /status/mailserver/offer/1.0.0, a real @waku/sdk light node fetches it with the SDK and
// verifies it; forged, foreign, oversized, garbage, mispriced and silent answers are refused or
// reported with reasons, never a crash.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Wallet } from "ethers";
import * as lp from "it-length-prefixed";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Protocols, type LightNode } from "@waku/sdk";
import {
  DEFAULT_ADMISSION_LIMITS,
  MailServerNode,
  OFFER_CODEC,
  OfferService,
  SOFTWARE,
  SqliteArchive,
  offerFields,
  parseConfig,
  silentLogger,
  startServer,
} from "@status/mailserver-node";
import {
  MAX_OFFER_BYTES,
  OFFER_PROTOCOL,
  decodeOffer,
  encodeOffer,
  fetchOffer,
  fetchOfferHttp,
  RegistryClient,
  nodeIdFromPrivateKey,
  signOffer,
  verifyOffer,
  type SignedOffer,
} from "@status/mailserver-sdk";
import { CHAIN_ID, UNIT, serverPeer, startChain, wakuClient, type Chain } from "../helpers/mailServer.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

const CLUSTER = 16;
const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const ESCROW = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";

describe("signed offer over /status/mailserver/offer/1.0.0", function () {
  this.timeout(120_000);
  const key = randomBytes(32);
  const nodeId = nodeIdFromPrivateKey(key);
  // A second node whose offer protocol misbehaves on purpose (handler swapped per test).
  const hostileKey = randomBytes(32);
  let archive: SqliteArchive;
  let hostileArchive: SqliteArchive;
  let server: MailServerNode;
  let hostile: MailServerNode;
  let waku: LightNode;
  const ws = (node: MailServerNode) => node.multiaddrs.find((a) => a.includes("/ws/"))!;
  const peerOf = (node: MailServerNode) => serverPeer(waku, node.peerId);

  before(async () => {
    archive = new SqliteArchive(":memory:");
    hostileArchive = new SqliteArchive(":memory:");
    server = await MailServerNode.create({
      privateKey: key,
      listen: ["/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: CLUSTER,
      shards: [1, 32],
      mode: "free",
      archive,
      retention: { maxAgeSeconds: 7 * 86_400, maxBytes: 1 << 30 },
      offer: { contact: "ops@example.org", chainId: 31337, registry: REGISTRY, escrow: ESCROW },
    });
    await server.start();
    hostile = await MailServerNode.create({ privateKey: hostileKey, listen: ["/ip4/127.0.0.1/tcp/0/ws"], clusterId: CLUSTER, shards: [1, 32], mode: "free", archive: hostileArchive });
    await hostile.start();
    waku = await wakuClient(ws(server), undefined, { clusterId: CLUSTER });
    await waku.dial(ws(hostile));
  });
  after(async () => {
    await waku?.stop();
    await server?.stop();
    await hostile?.stop();
    await archive?.close();
    await hostileArchive?.close();
  });

  /** Serves `answer` raw (already framed or not) on the hostile node's offer protocol. */
  const hostileAnswers = async (answer: ((stream: { sink(s: Iterable<Uint8Array>): Promise<void>; close(): Promise<void> }) => Promise<void>) | undefined) => {
    await hostile.libp2p.unhandle(OFFER_CODEC);
    if (answer === undefined) return;
    await hostile.libp2p.handle(OFFER_CODEC, ({ stream }) => void answer(stream as never).catch(() => undefined));
  };
  const serveSigned = (signed: SignedOffer) => hostileAnswers(async (stream) => {
    await stream.sink([lp.encode.single(encodeOffer(signed)).subarray()]);
    await stream.close();
  });

  it("a @waku/sdk light node fetches the offer and it verifies against the node id; it says what the node's config says", async () => {
    expect(OFFER_CODEC).to.equal(OFFER_PROTOCOL);
    expect(server.libp2p.getProtocols()).to.include(OFFER_PROTOCOL);
    const signed = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(server), timeoutMs: 10_000 });
    const verdict = verifyOffer(signed, { nodeId, chainId: 31337 });
    expect(verdict.valid, verdict.valid ? "" : verdict.message).to.equal(true);
    expect(signed.offer).to.deep.include({
      type: "status-mailserver-offer",
      version: 1,
      nodeId,
      chainId: 31337,
      registry: REGISTRY,
      escrow: ESCROW,
      token: null,
      pricePerMonth: "0",
      months: { min: 1, max: 12 },
      mode: "free",
      retention: { maxAgeSeconds: 7 * 86_400, maxBytes: 1 << 30 },
      capacity: { maxConcurrentQueries: DEFAULT_ADMISSION_LIMITS.maxConcurrent, maxPaidQueue: DEFAULT_ADMISSION_LIMITS.maxPaidQueue },
      clusterId: CLUSTER,
      shards: [1, 32],
      software: SOFTWARE,
      contact: "ops@example.org",
    });
    expect(Math.abs(signed.offer.issuedAt - Date.now() / 1000)).to.be.below(600);
    // The same offer again: signed once, served as it is until refreshSeconds.
    const again = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(server) });
    expect(again.signature).to.equal(signed.signature);
    // Canonical: decoding the encoding gives the same bytes back.
    expect(encodeOffer(decodeOffer(encodeOffer(signed)))).to.deep.equal(encodeOffer(signed));
  });

  it("the signature is EIP-191 by the node key: ethers recovers the node id's address", async () => {
    const signed = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(server) });
    const { verifyMessage } = await import("ethers");
    const signer = verifyMessage(new TextEncoder().encode(JSON.stringify(signed.offer)), signed.signature);
    expect(signer.toLowerCase()).to.equal(`0x${nodeId.slice(-40)}`);
    expect(signer).to.equal(new Wallet(`0x${key.toString("hex")}`).address);
  });

  it("a forged offer (signed by another key, or altered after signing) is refused: bad-signature", async () => {
    const genuine = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(server) });
    // Another key signs a document naming our node id.
    const forger = new Wallet(`0x${randomBytes(32).toString("hex")}`);
    const forged: SignedOffer = { offer: genuine.offer, signature: await forger.signMessage(new TextEncoder().encode(JSON.stringify(genuine.offer))) };
    await serveSigned(forged);
    const fetched = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(hostile) });
    const verdict = verifyOffer(fetched, { nodeId });
    expect(verdict).to.deep.include({ valid: false, reason: "bad-signature" });
    // The node's own signature over a cheaper price.
    const altered: SignedOffer = { offer: { ...genuine.offer, retention: { maxAgeSeconds: 365 * 86_400, maxBytes: 0 } }, signature: genuine.signature };
    expect(verifyOffer(altered, { nodeId })).to.deep.include({ valid: false, reason: "bad-signature" });
    // A signature that recovers to nothing.
    expect(verifyOffer({ offer: genuine.offer, signature: `0x${"00".repeat(65)}` }, { nodeId })).to.deep.include({ valid: false, reason: "bad-signature" });
  });

  it("another node's genuine offer is refused for this node id: wrong-node; an old or future one: expired / not-yet-valid; another chain: wrong-chain", async () => {
    const other = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(server) });
    const hostileId = nodeIdFromPrivateKey(hostileKey);
    expect(verifyOffer(other, { nodeId: hostileId })).to.deep.include({ valid: false, reason: "wrong-node" });
    const now = other.offer.issuedAt;
    expect(verifyOffer(other, { nodeId, now: now + 8 * 86_400 })).to.deep.include({ valid: false, reason: "expired" });
    expect(verifyOffer(other, { nodeId, now: now + 3600, maxAgeSeconds: 60 })).to.deep.include({ valid: false, reason: "expired" });
    expect(verifyOffer(other, { nodeId, now: now - 3600 })).to.deep.include({ valid: false, reason: "not-yet-valid" });
    expect(verifyOffer(other, { nodeId, chainId: 1 })).to.deep.include({ valid: false, reason: "wrong-chain" });
  });

  it("a price that disagrees with the registry price passed in is reported and the registry's price is the one in force", async () => {
    const signed = await signOffer(hostileKey, {
      ...offerFields({ contact: "x", chainId: 31337, pricePerMonth: 5n * 10n ** 18n }, { mode: "freemium", admission: DEFAULT_ADMISSION_LIMITS, retention: undefined, clusterId: CLUSTER, shards: [32] }),
      issuedAt: Math.floor(Date.now() / 1000),
    });
    await serveSigned(signed);
    const fetched = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(hostile) });
    const hostileId = nodeIdFromPrivateKey(hostileKey);
    const verdict = verifyOffer(fetched, { nodeId: hostileId, registryPrice: 7n * 10n ** 18n });
    expect(verdict.valid).to.equal(true);
    if (!verdict.valid) return;
    expect(verdict.pricePerMonth).to.equal(7n * 10n ** 18n);
    expect(verdict.mismatches).to.deep.equal([{ field: "pricePerMonth", offered: (5n * 10n ** 18n).toString(), registry: (7n * 10n ** 18n).toString() }]);
    // Agreeing prices: nothing reported; free tier as the admission policy allows it.
    const agreeing = verifyOffer(fetched, { nodeId: hostileId, registryPrice: 5n * 10n ** 18n });
    expect(agreeing).to.deep.include({ valid: true, mismatches: [], pricePerMonth: 5n * 10n ** 18n });
    expect(fetched.offer.free).to.deep.equal({ queriesPerMinute: DEFAULT_ADMISSION_LIMITS.freeQueriesPerMinute, burst: DEFAULT_ADMISSION_LIMITS.freeBurst, maxConcurrent: DEFAULT_ADMISSION_LIMITS.maxConcurrentFree });
  });

  it("oversized and garbage answers give INVALID_OFFER, a closed stream NODE_UNAVAILABLE; the client and the server keep working", async () => {
    const big = new Uint8Array(MAX_OFFER_BYTES + 1).fill(0x20);
    await hostileAnswers(async (stream) => {
      await stream.sink([lp.encode.single(big).subarray()]);
      await stream.close();
    });
    const oversized = await expectSdkError(fetchOffer({ libp2p: waku.libp2p, peer: peerOf(hostile) }), "INVALID_OFFER");
    expect(oversized.details.size).to.equal(MAX_OFFER_BYTES + 1);
    for (const garbage of [new TextEncoder().encode("not json"), new TextEncoder().encode('{"offer":{},"signature":"0x00"}'), new Uint8Array([0xc3, 0x28])]) {
      await hostileAnswers(async (stream) => {
        await stream.sink([lp.encode.single(garbage).subarray()]);
        await stream.close();
      });
      await expectSdkError(fetchOffer({ libp2p: waku.libp2p, peer: peerOf(hostile) }), "INVALID_OFFER");
    }
    // A valid document of an unknown version or with an extra field.
    const genuine = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(server) });
    expect(() => decodeOffer(new TextEncoder().encode(JSON.stringify({ ...genuine, offer: { ...genuine.offer, version: 2 } })))).to.throw(/unsupported version/);
    await expectSdkError(() => decodeOffer(new TextEncoder().encode(JSON.stringify({ ...genuine, offer: { ...genuine.offer, extra: 1 } }))), "INVALID_OFFER");
    // A missing field is named as missing (the checks shared with probe reports, core/document.ts).
    const withoutContact = (({ contact: _, ...rest }) => rest)(genuine.offer);
    const missing = await expectSdkError(() => decodeOffer(new TextEncoder().encode(JSON.stringify({ ...genuine, offer: withoutContact }))), "INVALID_OFFER");
    expect(missing.message).to.equal("invalid offer: missing field offer.contact");
    await hostileAnswers(async (stream) => stream.close());
    await expectSdkError(fetchOffer({ libp2p: waku.libp2p, peer: peerOf(hostile) }), "NODE_UNAVAILABLE");
    // A node without the protocol at all.
    await hostileAnswers(undefined);
    await expectSdkError(fetchOffer({ libp2p: waku.libp2p, peer: peerOf(hostile) }), "NODE_UNAVAILABLE");
    const after = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(server) });
    expect(verifyOffer(after, { nodeId }).valid).to.equal(true);
  });

  it("a server that never answers hits the deadline with NODE_UNAVAILABLE", async () => {
    const held: (() => void)[] = [];
    await hostileAnswers(() => new Promise<void>((resolve) => held.push(resolve)));
    const error = await expectSdkError(fetchOffer({ libp2p: waku.libp2p, peer: peerOf(hostile), timeoutMs: 1_000 }), "NODE_UNAVAILABLE");
    expect(error.details.timeoutMs).to.equal(1_000);
    for (const release of held) release();
  });

  it("an endless answer is cut at the first frame's bound (INVALID_OFFER); the client's mplex then drops that node, not the others", async () => {
    // A length prefix that never ends, then 100 KiB.
    await hostileAnswers(async (stream) => {
      await stream.sink((function* () {
        for (let i = 0; i < 100; i++) yield new Uint8Array(1024).fill(0xff);
      })());
    });
    await expectSdkError(fetchOffer({ libp2p: waku.libp2p, peer: peerOf(hostile) }), "INVALID_OFFER");
    // The hostile node kept writing to a stream the client had closed: @libp2p/mplex drops such a
    // connection ("Too many messages for missing streams"). The honest server is untouched.
    const honest = await fetchOffer({ libp2p: waku.libp2p, peer: peerOf(server) });
    expect(verifyOffer(honest, { nodeId }).valid).to.equal(true);
  });

  it("startServer serves the offer from the config file's terms: contracts from the config, token and price from the offer section", async () => {
    const token = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";
    const config = parseConfig(
      {
        nodeKeyFile: "unused",
        mode: "free",
        chainId: 31337,
        registry: REGISTRY,
        escrow: ESCROW,
        listen: ["/ip4/127.0.0.1/tcp/0/ws"],
        clusterId: CLUSTER,
        shards: [64],
        archive: { backend: "sqlite", path: ":memory:" },
        relay: { enabled: false },
        offer: { contact: "https://example.org/ops", token, months: { min: 1, max: 6 }, http: { host: "127.0.0.1", port: 0 } },
      },
      "/",
    );
    const running = await startServer(config, silentLogger, { privateKey: randomBytes(32) });
    try {
      await waku.dial(running.node.multiaddrs.find((a) => a.includes("/ws/"))!);
      const signed = await fetchOffer({ libp2p: waku.libp2p, peer: serverPeer(waku, running.node.peerId) });
      expect(verifyOffer(signed, { nodeId: running.nodeId, chainId: 31337 }).valid).to.equal(true);
      expect(signed.offer).to.deep.include({ registry: REGISTRY, escrow: ESCROW, token, months: { min: 1, max: 6 }, shards: [64], contact: "https://example.org/ops", pricePerMonth: "0" });
      // Over HTTP for pages: the same signed document, readable from any origin.
      expect(running.offerUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+\/offer$/);
      expect(await fetchOfferHttp(running.offerUrl!)).to.deep.equal(signed);
      const response = await fetch(running.offerUrl!);
      expect(response.headers.get("access-control-allow-origin")).to.equal("*");
      expect(response.headers.get("content-type")).to.equal("application/json");
      expect(new Uint8Array(await response.arrayBuffer())).to.deep.equal(encodeOffer(signed));
      expect((await fetch(running.offerUrl!, { method: "POST", body: "x" })).status).to.equal(405);
      expect((await fetch(running.offerUrl!.replace("/offer", "/other"))).status).to.equal(404);
    } finally {
      await running.stop();
    }
  });

  it("over HTTP: oversized, garbage, error statuses and silence give INVALID_OFFER / NODE_UNAVAILABLE", async () => {
    let answer: (response: import("node:http").ServerResponse) => void = () => undefined;
    const http: Server = createServer((_request, response) => answer(response));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/offer`;
    try {
      answer = (response) => response.writeHead(200, { "content-length": MAX_OFFER_BYTES + 1 }).end(new Uint8Array(MAX_OFFER_BYTES + 1));
      expect((await expectSdkError(fetchOfferHttp(url), "INVALID_OFFER")).details.size).to.equal(MAX_OFFER_BYTES + 1);
      // No length announced, and far more than an offer.
      answer = (response) => {
        response.writeHead(200);
        for (let i = 0; i < 64; i++) response.write(new Uint8Array(1024));
        response.end();
      };
      await expectSdkError(fetchOfferHttp(url), "INVALID_OFFER");
      answer = (response) => response.writeHead(200).end("<html>not an offer</html>");
      await expectSdkError(fetchOfferHttp(url), "INVALID_OFFER");
      answer = (response) => response.writeHead(500).end();
      await expectSdkError(fetchOfferHttp(url), "NODE_UNAVAILABLE");
      answer = () => undefined;
      const late = await expectSdkError(fetchOfferHttp(url, { timeoutMs: 500 }), "NODE_UNAVAILABLE");
      expect(late.details.timeoutMs).to.equal(500);
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
    await expectSdkError(fetchOfferHttp(url, { timeoutMs: 2_000 }), "NODE_UNAVAILABLE");
  });

  it("the service signs again once its offer is older than refreshSeconds, and serves the same bytes until then", async () => {
    let now = 1_800_000_000;
    const service = new OfferService(
      { registrar: { handle: async () => undefined, unhandle: async () => undefined } },
      {
        privateKey: key,
        fields: offerFields({ contact: "c", chainId: 1 }, { mode: "free", admission: DEFAULT_ADMISSION_LIMITS, retention: undefined, clusterId: 1, shards: [0] }),
        refreshSeconds: 600,
        streams: { requestTimeoutMs: 1000, maxStreamsPerProtocol: 1 },
        logger: silentLogger,
        now: () => now,
      },
    );
    await service.start();
    const first = decodeOffer(await service.current());
    expect(first.offer.issuedAt).to.equal(now);
    now += 599;
    expect(decodeOffer(await service.current())).to.deep.equal(first);
    now += 1;
    const [a, b] = await Promise.all([service.current(), service.current()]);
    expect(a).to.deep.equal(b);
    expect(decodeOffer(a).offer.issuedAt).to.equal(now);
    expect(verifyOffer(decodeOffer(a), { nodeId, now }).valid).to.equal(true);
  });

  it("the config's offer section is validated with one-line errors and defaults", () => {
    const base = { nodeKeyFile: "key", mode: "free" };
    const config = parseConfig({ ...base, offer: { contact: "ops@example.org", pricePerMonth: "1000" } }, "/");
    expect(config.offer).to.deep.equal({ contact: "ops@example.org", pricePerMonth: 1000n, months: { min: 1, max: 12 }, refreshSeconds: 3600 });
    expect(parseConfig({ ...base, offer: { contact: "a", http: { port: 8080 } } }, "/").offer?.http).to.deep.equal({ host: "0.0.0.0", port: 8080 });
    expect(() => parseConfig({ ...base, offer: { contact: "a", http: { port: 70000 } } }, "/")).to.throw(/offer.http.port must be an integer from 0 to 65535/);
    expect(parseConfig(base, "/").offer).to.equal(undefined);
    expect(() => parseConfig({ ...base, offer: {} }, "/")).to.throw(/offer.contact must be a non-empty string/);
    expect(() => parseConfig({ ...base, offer: { contact: "a", pricePerMonth: 10 } }, "/")).to.throw(/offer.pricePerMonth must be a decimal string/);
    expect(() => parseConfig({ ...base, offer: { contact: "a", months: { min: 3, max: 2 } } }, "/")).to.throw(/offer.months.max must be an integer from 3/);
    expect(() => parseConfig({ ...base, offer: { contact: "a", price: "1" } }, "/")).to.throw(/unknown field offer.price/);
    // A paid-only node offers no free tier, whatever its admission limits say.
    const paidOnly = offerFields({ contact: "a", chainId: 1, pricePerMonth: 3n }, { mode: "paid-only", admission: DEFAULT_ADMISSION_LIMITS, retention: undefined, clusterId: 1, shards: [0] });
    expect(paidOnly).to.deep.include({ pricePerMonth: "3", free: { queriesPerMinute: 0, burst: 0, maxConcurrent: 0 }, retention: { maxAgeSeconds: 0, maxBytes: 0 } });
  });
});

describe("signed offer of a registered paid-only node, price checked against the registry on a local chain", function () {
  this.timeout(120_000);
  let chain: Chain;
  let waku: LightNode | undefined;
  const stops: (() => Promise<unknown>)[] = [];

  let dir: string;

  before(async () => {
    chain = await startChain();
    dir = await mkdtemp(path.join(tmpdir(), "offer-"));
    stops.push(() => rm(dir, { recursive: true, force: true }));
  });
  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await chain?.stop();
  });

  /** Starts the registered node (10 SNT a month on the registry) offering `pricePerMonth`. */
  const startOffering = async (pricePerMonth: string) => {
    const config = parseConfig(
      {
        nodeKeyFile: "unused",
        mode: "paid-only",
        rpcUrl: chain.node.url,
        chainId: CHAIN_ID,
        registry: chain.addresses.registry,
        escrow: chain.addresses.escrow,
        startBlock: 0,
        indexFile: `index-${pricePerMonth}.sqlite`,
        listen: ["/ip4/127.0.0.1/tcp/0/ws"],
        clusterId: CLUSTER,
        shards: [32],
        archive: { backend: "sqlite", path: ":memory:" },
        relay: { enabled: false },
        offer: { contact: "ops@example.org", pricePerMonth, token: chain.addresses.token },
      },
      dir,
    );
    const running = await startServer(config, silentLogger, { privateKey: Buffer.from(chain.nodeKey.privateKey.slice(2), "hex") });
    stops.push(() => running.stop());
    const address = running.node.multiaddrs.find((a) => a.includes("/ws/"))!;
    if (waku === undefined) {
      waku = await wakuClient(address, [Protocols.Store], { clusterId: CLUSTER });
      stops.push(() => waku!.stop());
    } else await waku.dial(address);
    return fetchOffer({ libp2p: waku.libp2p, peer: serverPeer(waku, running.node.peerId) }).finally(() => running.stop());
  };

  it("an offer below the registry's price is reported and the registry's price is in force; an agreeing one reports nothing", async () => {
    const registry = new RegistryClient({ runner: chain.provider, chainId: CHAIN_ID, addresses: chain.addresses });
    const registered = (await registry.getNode(chain.nodeId))!;
    expect(registered.pricePerMonth).to.equal(10n * UNIT);

    const cheap = await startOffering((9n * UNIT).toString());
    expect(cheap.offer).to.deep.include({ nodeId: chain.nodeId, mode: "paid-only", registry: chain.addresses.registry, escrow: chain.addresses.escrow, token: chain.addresses.token });
    const verdict = verifyOffer(cheap, { nodeId: chain.nodeId, chainId: CHAIN_ID, registryPrice: registered.pricePerMonth });
    expect(verdict).to.deep.include({ valid: true, pricePerMonth: 10n * UNIT });
    expect(verdict.valid && verdict.mismatches).to.deep.equal([{ field: "pricePerMonth", offered: (9n * UNIT).toString(), registry: (10n * UNIT).toString() }]);

    const honest = await startOffering((10n * UNIT).toString());
    expect(verifyOffer(honest, { nodeId: chain.nodeId, chainId: CHAIN_ID, registryPrice: registered.pricePerMonth })).to.deep.include({ valid: true, mismatches: [] });
  });
});
