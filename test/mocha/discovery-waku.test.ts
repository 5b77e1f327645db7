// Real Waku ENRs (Status's fleet list, nwaku's network config, js-waku's test data; each with its
// source in test/fixtures/real-enrs.json): decoded, recognized as mail servers by the `waku2`
// store bit, filtered by network, compared with registered records.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { ENR, SignableENR } from "@chainsafe/enr";
import { Wallet, getBytes } from "ethers";
import {
  MAILSERVER_KIND,
  decodeRsv,
  encodeRs,
  STATUS_NETWORK,
  THE_WAKU_NETWORK,
  StaticEnrSource,
  endpointOf,
  enrHasKind,
  filterReason,
  filterSource,
  matchesFilter,
  parseEnr,
  sameEndpoint,
} from "@status/mailserver-sdk";

interface Fixture {
  name: string;
  fleet?: string;
  enr: string;
  addr?: string;
  source: { repo: string; path: string; commit: string };
}
const fixture = JSON.parse(readFileSync(new URL("../fixtures/real-enrs.json", import.meta.url), "utf8")) as { enrs: Fixture[] };
const all = fixture.enrs;
const statusProd = all.filter((f) => f.fleet === "FleetStatusProd");
const sandbox = all.filter((f) => f.fleet === "FleetWakuSandbox" || f.fleet === "TheWakuNetwork");
const seqZero = all.filter((f) => f.name.includes("seq 0"));

describe("discovery: real Waku ENRs", () => {
  it("every fixture names its source (repository, path, commit)", () => {
    expect(all.length).to.be.greaterThan(20);
    for (const f of all) {
      expect(f.source.repo).to.match(/^[\w-]+\/[\w-]+$/);
      expect(f.source.path).to.not.equal("");
      expect(f.source.commit).to.match(/^[0-9a-f]{40}$/);
    }
  });

  it("decodes Status's production store nodes: store bit, cluster 16 shards, DNS multiaddrs, the fleet list's peer ids", () => {
    expect(statusProd).to.have.length(6);
    for (const f of statusProd) {
      const node = parseEnr(f.enr);
      expect(node.waku2, f.name).to.equal(0x03);
      expect(node.capabilities).to.deep.equal(["relay", "store"]);
      expect(node.kinds).to.deep.equal([MAILSERVER_KIND]);
      expect(enrHasKind(node)).to.equal(true);
      expect(node.shards).to.deep.equal({ cluster: 16, shards: [1, 32, 64, 128, 256], key: "rs" });
      const host = `${f.name.replace(/\.status\.prod$/, "")}.status.prod.status.im`;
      expect(node.multiaddrs).to.deep.equal([`/dns4/${host}/tcp/30303`, `/dns4/${host}/tcp/443/wss`]);
      // status-go lists each node's multiaddr beside its ENR: same peer id, and the same endpoint.
      expect(node.peerId).to.equal(f.addr!.split("/p2p/")[1]);
      expect(node.peerId).to.match(/^16Uiu2/);
      expect(sameEndpoint(endpointOf(node)!, endpointOf(f.addr!)!)).to.equal(true);
      expect(node.tcp).to.equal(30303);
      expect(node.malformed).to.deep.equal([]);
    }
  });

  it("decodes records with sequence number 0 that @chainsafe/enr 5.0.0 cannot", () => {
    expect(seqZero.length).to.be.at.least(2);
    for (const f of seqZero) {
      expect(() => ENR.decodeTxt(f.enr), f.name).to.throw(/BigInt/);
      const node = parseEnr(f.enr);
      expect(node.seq).to.equal(0n);
    }
    const relayStore = parseEnr(seqZero.find((f) => f.name.includes("relay+store)"))!.enr);
    expect(relayStore.capabilities).to.deep.equal(["relay", "store"]);
    expect(relayStore.multiaddrs).to.deep.equal(["/ip4/192.168.178.251/tcp/8002/ws"]);
    const relayOnly = parseEnr(seqZero.find((f) => f.name.includes("relay)"))!.enr);
    expect(enrHasKind(relayOnly)).to.equal(false);
  });

  it("decodes every fixture without throwing; nodes without waku2 announce no kind", () => {
    for (const f of all) {
      const node = parseEnr(f.enr);
      expect(node.enr.length).to.be.greaterThan(100);
      if (node.waku2 === undefined) expect(node.kinds, f.name).to.deep.equal([]);
    }
    const vector = parseEnr(all.find((f) => f.name.includes("shared test vector"))!.enr);
    expect(vector.multiaddrs).to.include("/dns6/node-01.ac-cn-hongkong-c.wakuv2.test.statusim.net/tcp/443/wss");
    expect(vector.multiaddrs.some((m) => m.startsWith("/onion3/"))).to.equal(true);
  });

  it("filters by network: Status's fleet and The Waku Network do not mix", async () => {
    const status = { kind: "mailserver", ...STATUS_NETWORK };
    const twn = { kind: "mailserver", ...THE_WAKU_NETWORK };
    for (const f of statusProd) {
      expect(matchesFilter(parseEnr(f.enr), status)).to.equal(true);
      expect(filterReason(parseEnr(f.enr), twn)).to.equal("other-cluster");
    }
    for (const f of sandbox) {
      const node = parseEnr(f.enr);
      expect(node.shards).to.deep.equal({ cluster: 1, shards: [0, 1, 2, 3, 4, 5, 6, 7], key: "rs" });
      expect(matchesFilter(node, twn)).to.equal(true);
      expect(filterReason(node, { cluster: 1, shards: [9] })).to.equal("no-shared-shard");
    }
    const untagged = parseEnr(all.find((f) => f.name.includes("eth2"))!.enr);
    expect(filterReason(untagged, status)).to.equal("wrong-kind");
    expect(filterReason(untagged, { cluster: 16 })).to.equal("no-shard-info");

    const source = filterSource(new StaticEnrSource([...all.map((f) => f.enr), "enr:-garbage"]), status);
    const kept = await source.discover();
    expect(kept.map((e) => parseEnr(e).nodeId).sort()).to.deep.equal(
      [...new Set(all.filter((f) => f.fleet === "FleetStatusProd" || f.fleet === "FleetStatusStaging").map((f) => parseEnr(f.enr).nodeId))].sort(),
    );
    expect(source.lastFiltered.find((d) => d.enr === "enr:-garbage")?.reason).to.equal("invalid-enr");
  });

  it("compares a fleet ENR with registered records: DNS multiaddr, IP, WebSocket port; a stale peer id is a mismatch", () => {
    const f = statusProd[0]!;
    const node = endpointOf(f.enr)!;
    const host = parseEnr(f.enr).multiaddrs[0]!.split("/")[2]!;
    const peer = parseEnr(f.enr).peerId;
    expect(sameEndpoint(node, endpointOf(`/dns4/${host}/tcp/443/wss/p2p/${peer}`)!)).to.equal(true);
    expect(sameEndpoint(node, endpointOf(`/ip4/${parseEnr(f.enr).ip}/tcp/30303/p2p/${peer}`)!)).to.equal(true);
    expect(sameEndpoint(node, endpointOf(`/dns4/elsewhere.example/tcp/30303/p2p/${peer}`)!)).to.equal(false);
    expect(sameEndpoint(node, endpointOf(`/dns4/${host}/tcp/8443/wss/p2p/${peer}`)!)).to.equal(false);
    // status-go's own list pairs one sandbox node's ENR with a multiaddr of an older key.
    const stale = all.find((f) => f.fleet === "FleetWakuSandbox" && f.addr !== undefined && parseEnr(f.enr).peerId !== f.addr.split("/p2p/")[1]);
    expect(stale, "the fleet list's stale entry").to.not.equal(undefined);
    expect(sameEndpoint(endpointOf(stale!.enr)!, endpointOf(stale!.addr!)!)).to.equal(false);
  });

  it("rs and rsv: rsv in nwaku's bit order, rs preferred when both are present; malformed keys ignored, not fatal", () => {
    // nwaku's toBitVector: shard 8i + j is bit j (least significant first) of byte i.
    const rsv = new Uint8Array(130);
    rsv[1] = 16; // cluster 16
    for (const shard of [0, 9, 1023]) rsv[2 + (shard >> 3)]! |= 1 << (shard & 7);
    expect(decodeRsv(rsv)).to.deep.equal({ cluster: 16, shards: [0, 9, 1023] });
    expect(decodeRsv(rsv.subarray(0, 129))).to.equal(undefined);
    expect([...encodeRs({ cluster: 16, shards: [256, 1] })]).to.deep.equal([0, 16, 2, 0, 1, 1, 0]);

    const key = getBytes(Wallet.createRandom().privateKey);
    const sign = (kvs: Record<string, Uint8Array>) => {
      const scratch = SignableENR.createV4(key);
      scratch.ip = "192.0.2.1";
      for (const [k, v] of Object.entries(kvs)) scratch.set(k, v);
      return new SignableENR(scratch.kvs as ReadonlyMap<string, Uint8Array>, 5n, key).encodeTxt();
    };
    expect(parseEnr(sign({ rsv })).shards).to.deep.equal({ cluster: 16, shards: [0, 9, 1023], key: "rsv" });
    expect(parseEnr(sign({ rsv, rs: encodeRs({ cluster: 1, shards: [3] }) })).shards).to.deep.equal({ cluster: 1, shards: [3], key: "rs" });
    const broken = parseEnr(sign({ multiaddrs: Uint8Array.of(0, 9, 1, 2), rs: Uint8Array.of(0, 1, 4, 0), waku2: Uint8Array.of(2, 2) }));
    expect(broken.malformed.sort()).to.deep.equal(["multiaddrs", "rs", "waku2"]);
    expect(broken.multiaddrs).to.deep.equal([]);
    expect(broken.shards).to.equal(undefined);
    expect(broken.capabilities).to.deep.equal([]);
    expect(broken.ip).to.equal("192.0.2.1");
  });

  it("rejects a record over 300 bytes, a bad signature and a non-ENR with INVALID_ENR", () => {
    const f = statusProd[0]!;
    const bytes = Buffer.from(f.enr.slice(4), "base64url");
    bytes[10] = bytes[10]! ^ 1; // inside the signature
    for (const bad of [`enr:${bytes.toString("base64url")}`, "enr:-abc", "enode://x", `enr:${Buffer.alloc(301, 1).toString("base64url")}`]) {
      expect(() => parseEnr(bad), bad.slice(0, 20)).to.throw(/ENR/).with.property("code", "INVALID_ENR");
    }
  });
});
