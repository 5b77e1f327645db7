// The field's paid-store envelope (RFC 73 / LIP-155): an access grant carried as the
// `EligibilityProof` in field 30 of a store v3 request admits that request as paid, with no access
// stream; a proof that fails gets 400 with the verdict in the response's field 30, and the node
// keeps serving everyone; requests without field 30 are answered as before. Over real libp2p
// connections: a plain libp2p 2 client (yamux) sending raw store v3, and a @waku/sdk light node
// (mplex, WebSockets) using the SDK's `queryStoreWithProof`.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import { Wallet } from "ethers";
import * as lp from "it-length-prefixed";
import { createLibp2p, type Libp2p } from "libp2p";
import { proto_store } from "@waku/proto";
import { Protocols, type LightNode } from "@waku/sdk";
import { MailServerNode, SqliteArchive, STORE_CODEC, pubsubTopicOf, toArchived, type Logger } from "@status/mailserver-node";
import {
  MAX_ELIGIBILITY_PROOF_BYTES,
  MailserverSdkError,
  accessGrantMaker,
  queryStoreWithProof,
  readEligibilityProof,
  readEligibilityStatus,
  storeRefusal,
  withEligibilityProof,
} from "@status/mailserver-sdk";
import { AccessGate, type SubscriptionIndex } from "@status/mailserver-sdk/server";
import { CHAIN_ID, serverPeer, startChain, wakuClient, type Chain } from "../helpers/mailServer.js";

const TOPIC = "/mailserver-test/1/eligibility/proto";

describe("store: the paid-store envelope in field 30 (EligibilityProof / EligibilityStatus)", function () {
  this.timeout(180_000);
  let chain: Chain;
  let index: SubscriptionIndex;
  let tmp: string;
  let archive: SqliteArchive;
  let server: MailServerNode;
  let client: Libp2p;
  let waku: LightNode | undefined;
  const bobKey = Wallet.createRandom() as unknown as Wallet;
  const carolKey = Wallet.createRandom() as unknown as Wallet;
  const now = () => Math.floor(Date.now() / 1000);
  const pubsubTopic = pubsubTopicOf(1, 0);
  const logs: { level: string; event: string; fields: Record<string, unknown> }[] = [];
  const logger: Logger = { log: (level, event, fields) => void logs.push({ level, event, fields: fields ?? {} }) };
  let n = 0;

  before(async function () {
    this.timeout(120_000);
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-eligibility-"));
    chain = await startChain();
    await chain.subscribe(2, bobKey, 1);
    index = chain.index();
    await index.sync();
    archive = new SqliteArchive(path.join(tmp, "archive.sqlite"));
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    await archive.put([0, 1, 2].map((i) => toArchived(pubsubTopic, { payload: new TextEncoder().encode(`m${i}`), contentTopic: TOPIC, timestamp: nowNs + BigInt(i), version: 0 } as never)));
    server = await MailServerNode.create({
      privateKey: Buffer.from(chain.nodeKey.privateKey.slice(2), "hex"),
      listen: ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: 1,
      shards: [0],
      mode: "paid-only",
      archive,
      relay: { enabled: false },
      gate: new AccessGate({ nodeId: chain.nodeId, chainId: CHAIN_ID, escrow: chain.addresses.escrow, index, now }),
      logger,
    });
    await server.start();
    client = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] });
    await client.start();
  });

  after(async function () {
    this.timeout(60_000);
    await waku?.stop().catch(() => undefined);
    await client?.stop();
    await server?.stop();
    await archive?.close();
    await index?.stop();
    await chain?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  const grantOf = async (key: Wallet, peerId: string) => (await accessGrantMaker({ signer: key, domain: { chainId: CHAIN_ID, escrow: chain.addresses.escrow }, nodeId: chain.nodeId, now })(peerId)).bytes;

  const request = () =>
    proto_store.StoreQueryRequest.encode({ requestId: `r${n++}`, includeData: true, pubsubTopic, contentTopics: [TOPIC], messageHashes: [], paginationForward: true, paginationLimit: 10n });

  /** One raw store v3 exchange on the plain client's connection (a new connection when `fresh`). */
  async function raw(bytes: Uint8Array, fresh?: Libp2p) {
    const stream = await (fresh ?? client).dialProtocol(multiaddr(server.multiaddrs.find((a) => !a.includes("/ws"))!), STORE_CODEC);
    await stream.sink([lp.encode.single(bytes).subarray()]);
    let answer: Uint8Array | undefined;
    for await (const chunk of lp.decode(stream.source)) answer ??= chunk.subarray();
    expect(answer, "an answer").to.not.equal(undefined);
    return { response: proto_store.StoreQueryResponse.decode(answer!), eligibility: readEligibilityStatus(answer!) };
  }

  const payloads = (response: proto_store.StoreQueryResponse) => response.messages.map((m) => new TextDecoder().decode(m.message!.payload));

  it("a subscriber's grant in field 30 admits the request as paid, no access stream; the answer carries its verdict in field 30", async () => {
    const { response, eligibility } = await raw(withEligibilityProof(request(), await grantOf(bobKey, client.peerId.toString())));
    expect(response.statusCode).to.equal(200);
    expect(payloads(response)).to.deep.equal(["m0", "m1", "m2"]);
    expect(eligibility).to.deep.equal({ statusCode: 200, statusDesc: "OK" });
  });

  it("without field 30 a request is answered as before (402 for a peer that presented nothing, no field 30)", async () => {
    const stranger = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] });
    await stranger.start();
    try {
      const { response, eligibility } = await raw(request(), stranger);
      expect(response.statusCode).to.equal(402);
      expect(eligibility).to.equal(undefined);
    } finally {
      await stranger.stop();
    }
  });

  it("proofs that fail get 400 with the verdict (402 and the reason) in field 30; nothing crashes and the subscriber is still served", async () => {
    const stranger = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] });
    await stranger.start();
    const peer = stranger.peerId.toString();
    try {
      const cases: [string, Uint8Array, RegExp][] = [
        ["no subscription", withEligibilityProof(request(), await grantOf(carolKey, peer)), /no-subscription/],
        ["a grant for another peer", withEligibilityProof(request(), await grantOf(bobKey, client.peerId.toString())), /peer-mismatch/],
        ["bytes that are no grant", withEligibilityProof(request(), randomBytes(40)), /malformed/],
        // EligibilityProof {} (no proof_of_payment): nwaku's words.
        ["an empty proof", Uint8Array.from([...request(), 0xf2, 0x01, 0x00]), /Eligibility proof is empty/],
        ["a proof over the bound", Uint8Array.from([...request(), 0xf2, 0x01, ...varint(MAX_ELIGIBILITY_PROOF_BYTES + 3), 0x0a, ...varint(MAX_ELIGIBILITY_PROOF_BYTES), ...randomBytes(MAX_ELIGIBILITY_PROOF_BYTES)]), /over 1024 bytes/],
        ["two proofs", withEligibilityProof(withEligibilityProof(request(), await grantOf(bobKey, peer)), await grantOf(bobKey, peer)), /more than one/],
      ];
      for (const [what, bytes, reason] of cases) {
        const { response, eligibility } = await raw(bytes, stranger);
        expect(response.statusCode, what).to.equal(400);
        expect(response.statusDesc, what).to.match(/^BAD_REQUEST: eligibility proof refused: /);
        expect(response.messages, what).to.deep.equal([]);
        expect(eligibility?.statusCode, what).to.equal(402);
        expect(eligibility?.statusDesc, what).to.match(reason);
        // What an app makes of it: pay (a subscription is needed), not "try later".
        const refusal = storeRefusal({ ...response, eligibility });
        expect(refusal, what).to.be.instanceOf(MailserverSdkError);
        expect(refusal!.code, what).to.equal("ACCESS_REFUSED");
      }
      // A refused proof admits nothing later either.
      expect((await raw(request(), stranger)).response.statusCode).to.equal(402);
    } finally {
      await stranger.stop();
    }
    expect((await raw(withEligibilityProof(request(), await grantOf(bobKey, client.peerId.toString())))).response.statusCode).to.equal(200);
    expect(logs.filter((l) => l.level === "error" || l.event === "handler-failed")).to.deep.equal([]);
  });

  it("the SDK's queryStoreWithProof: a @waku/sdk light node queries with its grant in field 30 on one stream", async () => {
    waku = await wakuClient(server.multiaddrs.find((a) => a.includes("/ws"))!, [Protocols.Store]);
    const grant = await grantOf(bobKey, waku.libp2p.peerId.toString());
    const answer = await queryStoreWithProof(waku.libp2p as never, serverPeer(waku, server.peerId), request(), { proof: grant });
    expect(answer.eligibility).to.deep.equal({ statusCode: 200, statusDesc: "OK" });
    const response = proto_store.StoreQueryResponse.decode(answer.response);
    expect(response.statusCode).to.equal(200);
    expect(payloads(response)).to.deep.equal(["m0", "m1", "m2"]);
    // Another client's grant on this connection is refused, and the SDK says so.
    const refused = await queryStoreWithProof(waku.libp2p as never, serverPeer(waku, server.peerId), request(), { proof: await grantOf(carolKey, waku.libp2p.peerId.toString()) });
    expect(refused.eligibility).to.deep.equal({ statusCode: 402, statusDesc: "Payment Required: no-subscription" });
    expect(proto_store.StoreQueryResponse.decode(refused.response).statusCode).to.equal(400);
  });

  it("the codec: a request's field 30 round-trips and a non-proof is never decoded past its bound", () => {
    const grant = randomBytes(200);
    const read = readEligibilityProof(withEligibilityProof(request(), grant));
    expect(read).to.deep.equal({ present: true, proofOfPayment: new Uint8Array(grant) });
    expect(readEligibilityProof(request())).to.deep.equal({ present: false });
    expect(() => withEligibilityProof(request(), new Uint8Array(0))).to.throw(MailserverSdkError, /non-empty/);
    expect(() => withEligibilityProof(request(), randomBytes(MAX_ELIGIBILITY_PROOF_BYTES))).to.throw(MailserverSdkError, /above the 1024/);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
