// EIP-1459 DNS discovery against a real DNS server on 127.0.0.1 (dns2) serving trees built by the
// SDK's publishing side: every node found; tampered, wrongly signed, looping, oversized and
// replayed trees give clear errors or are skipped with a reason.
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import { SigningKey, Wallet } from "ethers";
import {
  DnsEnrTreeSource,
  MailserverSdkError,
  STATUS_NETWORK,
  buildEnrTree,
  buildNodeEnr,
  combineSources,
  dnsOverHttpsResolver,
  entryHash,
  filterSource,
  formatEnrTreeUrl,
  parseEnr,
  parseEnrTreeUrl,
  signEnrTreeRoot,
  toZoneFile,
  txtStrings,
  verifyRoot,
  StaticEnrSource,
} from "@status/mailserver-sdk";
import { readFileSync } from "node:fs";
import { discoveryExample } from "../../examples/discovery.js";
import { THE_WAKU_NETWORK } from "@status/mailserver-sdk";
import { nodeDnsResolver, startMailserverDiscovery, type MailserverDiscoveryHandle } from "@status/mailserver-sdk/discovery";
import { startDnsServer, type TxtZone } from "../helpers/dnsServer.js";

const fixture = JSON.parse(readFileSync(new URL("../fixtures/real-enrs.json", import.meta.url), "utf8")) as {
  trees: { url: string; root: string; rootBadSig: string }[];
};

const nodeKey = () => Wallet.createRandom().privateKey;
function wakuEnr(i: number): string {
  return buildNodeEnr({
    privateKey: nodeKey(),
    ip: `10.0.${i >> 8}.${i & 255}`,
    tcp: 30303,
    udp: 9000,
    multiaddrs: [`/dns4/store-${i}.mail.example.org/tcp/443/wss`],
    shards: STATUS_NETWORK,
  }).enr;
}

describe("discovery: EIP-1459 DNS trees on a loopback DNS server", function () {
  this.timeout(60_000);
  let zone: TxtZone;
  const treeKey = Wallet.createRandom().privateKey;
  const enrs = Array.from({ length: 30 }, (_, i) => wakuEnr(i));
  const tree = buildEnrTree({ domain: "nodes.example.org", enrs, seq: 3, privateKey: treeKey });
  const source = (url: string | string[] = tree.url, extra: Partial<ConstructorParameters<typeof DnsEnrTreeSource>[0]> = {}) =>
    new DnsEnrTreeSource({ url, resolveTxt: nodeDnsResolver({ servers: [zone.server], timeoutMs: 2000, tries: 1 }), ...extra });

  before(async () => {
    zone = await startDnsServer();
  });
  after(async () => {
    await zone?.close();
  });
  beforeEach(() => {
    zone.records.clear();
    zone.publish(tree);
  });

  it("builds a signed tree: URL of the key, 26-character labels, branches of at most 13, zone-file output", () => {
    expect(tree.url).to.equal(formatEnrTreeUrl(new SigningKey(treeKey).publicKey, "nodes.example.org"));
    expect(parseEnrTreeUrl(tree.url).publicKey).to.equal(new SigningKey(treeKey).compressedPublicKey);
    for (const [label, text] of tree.entries) {
      expect(label).to.match(/^[A-Z2-7]{26}$/);
      expect(entryHash(text)).to.equal(label);
      if (text.startsWith("enrtree-branch:")) expect(text.split(",").length).to.be.at.most(13);
    }
    expect([...tree.entries.values()].filter((t) => t.startsWith("enr:"))).to.have.length(30);
    const zoneFile = toZoneFile(tree);
    expect(zoneFile).to.include(`nodes.example.org.\t3600\tIN\tTXT\t"enrtree-root:v1 e=${tree.root.enrRoot} l=${tree.root.linkRoot} seq=3 sig=`);
    // A leaf longer than 255 bytes is written as several strings.
    const long = [...tree.entries.values()].find((t) => t.length > 255)!;
    expect(txtStrings(long).length).to.be.greaterThan(1);
    expect(zoneFile).to.include(`"${long.slice(0, 255)}" "${long.slice(255, 510)}`);
  });

  it("verifies a root published by another implementation (js-waku's test tree) and refuses its bad-signature twin", () => {
    const published = fixture.trees[0]!;
    const url = parseEnrTreeUrl(published.url);
    const root = verifyRoot(published.root, url.publicKey);
    expect(root).to.include({ enrRoot: "JORXBYVVM7AEKETX5DGXW44EAY", linkRoot: "FDXN3SN67NA5DKA4J2GOK7BVQI", seq: 1839 });
    expect(() => verifyRoot(published.rootBadSig, url.publicKey)).to.throw(MailserverSdkError).with.property("code", "DNS_TREE_INVALID");
    expect(() => parseEnrTreeUrl("enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2nodes.example.org")).to.throw(MailserverSdkError);
  });

  it("finds every node through node:dns against the loopback server, joining split TXT strings", async () => {
    const dns = source();
    const found = await dns.discover();
    expect(new Set(found.map((e) => parseEnr(e).nodeId))).to.deep.equal(new Set(enrs.map((e) => parseEnr(e).nodeId)));
    expect(dns.lastStats!.skipped).to.deep.equal([]);
    expect(dns.lastStats!.trees).to.equal(1);
    expect(dns.lastSeq(tree.url)).to.equal(3);
    expect(zone.queries.length).to.be.at.least(dns.lastStats!.lookups); // the answers came from the loopback server
    // Into the same pipeline as discv5: merged, filtered by network.
    const merged = await combineSources(filterSource(dns, { kind: "mailserver", ...STATUS_NETWORK }), new StaticEnrSource(enrs.slice(0, 3))).discoverDetailed();
    expect(merged.nodes).to.have.length(30);
    expect(merged.nodes.find((n) => n.enr === enrs[0])!.sources.length).to.equal(2);
  });

  it("skips a tampered leaf (content does not hash to its label) and keeps the rest", async () => {
    const [label] = [...tree.entries].find(([, t]) => t === enrs[5])!;
    zone.set(`${label}.nodes.example.org`, wakuEnr(99)); // a valid, signed ENR, but not the one the tree committed to
    const dns = source();
    const found = await dns.discover();
    expect(found).to.have.length(29);
    expect(found).to.not.include(enrs[5]);
    expect(dns.lastStats!.skipped).to.deep.equal([{ name: `${label}.nodes.example.org`, reason: "hash-mismatch", detail: dns.lastStats!.skipped[0]!.detail }]);
  });

  it("refuses a tree whose root is signed by another key than the URL's, or is tampered", async () => {
    const otherUrl = formatEnrTreeUrl(Wallet.createRandom().signingKey.publicKey, "nodes.example.org");
    const err = await source(otherUrl).discover().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(MailserverSdkError).with.property("code", "DNS_TREE_INVALID");
    expect((err as Error).message).to.match(/not signed by the URL's key/);

    // With several URLs, the bad one is skipped and the good one still counts.
    const both = source([otherUrl, tree.url]);
    expect(await both.discover()).to.have.length(30);
    expect(both.lastStats!.skipped.map((s) => [s.name, s.reason])).to.deep.equal([[otherUrl, "bad-linked-root"]]);

    zone.set("nodes.example.org", tree.rootText.replace("seq=3", "seq=4"));
    const tampered = await source().discover().catch((e: unknown) => e);
    expect(tampered).to.be.instanceOf(MailserverSdkError).with.property("code", "DNS_TREE_INVALID");

    zone.records.delete("nodes.example.org");
    const missing = await source().discover().catch((e: unknown) => e);
    expect(missing).to.be.instanceOf(MailserverSdkError).with.property("code", "DNS_TREE_INVALID");
    expect((missing as Error).message).to.match(/no TXT record/);
  });

  it("skips a branch with a bad label and an entry of unknown type, with reasons", async () => {
    const key = new SigningKey(treeKey);
    const good = enrs[0]!;
    const unknown = "something-else:v1";
    const badBranch = "enrtree-branch:NOT-A-HASH";
    const branch = `enrtree-branch:${entryHash(good)},${entryHash(unknown)},${entryHash(badBranch)}`;
    const empty = "enrtree-branch:";
    const { text } = signEnrTreeRoot({ enrRoot: entryHash(branch), linkRoot: entryHash(empty), seq: 1 }, key);
    zone.records.clear();
    zone.set("bad.example.org", text);
    for (const t of [good, unknown, badBranch, branch, empty]) zone.set(`${entryHash(t)}.bad.example.org`, t);
    const dns = source(formatEnrTreeUrl(key.publicKey, "bad.example.org"));
    expect(await dns.discover()).to.deep.equal([good]);
    const reasons = dns.lastStats!.skipped.map((s) => s.reason).sort();
    expect(reasons).to.deep.equal(["bad-entry", "bad-entry"]);
    expect(dns.lastStats!.skipped.map((s) => s.detail).join(" ")).to.match(/bad hash in branch: NOT-A-HASH/);
  });

  it("follows links between trees and stops at a link loop", async () => {
    const keyA = Wallet.createRandom().privateKey;
    const keyB = Wallet.createRandom().privateKey;
    const urlA = formatEnrTreeUrl(new SigningKey(keyA).publicKey, "a.example.org");
    const urlB = formatEnrTreeUrl(new SigningKey(keyB).publicKey, "b.example.org");
    const a = buildEnrTree({ domain: "a.example.org", enrs: enrs.slice(0, 4), links: [urlB], seq: 1, privateKey: keyA });
    const b = buildEnrTree({ domain: "b.example.org", enrs: enrs.slice(4, 9), links: [urlA], seq: 1, privateKey: keyB });
    expect(a.url).to.equal(urlA);
    zone.publish(a);
    zone.publish(b);
    const dns = source(urlA);
    const found = await dns.discover();
    expect(new Set(found)).to.deep.equal(new Set(enrs.slice(0, 9)));
    expect(dns.lastStats!.trees).to.equal(2);
    expect(dns.lastStats!.skipped).to.deep.equal([{ name: urlA, reason: "already-visited", detail: "link loop" }]);
    // Links can be turned off.
    const own = source(urlA, { followLinks: false });
    expect(await own.discover()).to.have.length(4);
  });

  it("bounds an oversized tree by entry count and branch depth, returning what it read", async () => {
    const capped = source(tree.url, { maxEntries: 10 });
    const found = await capped.discover();
    expect(found.length).to.be.greaterThan(0).and.lessThan(30);
    expect(capped.lastStats!.lookups).to.equal(10);
    expect(capped.lastStats!.skipped.some((s) => s.reason === "entry-limit")).to.equal(true);

    // A chain of branches deeper than maxDepth.
    const key = new SigningKey(treeKey);
    let top = enrs[0]!;
    zone.records.clear();
    const chain: string[] = [top];
    for (let i = 0; i < 5; i++) {
      top = `enrtree-branch:${entryHash(top)}`;
      chain.push(top);
    }
    const empty = "enrtree-branch:";
    chain.push(empty);
    for (const t of chain) zone.set(`${entryHash(t)}.deep.example.org`, t);
    zone.set("deep.example.org", signEnrTreeRoot({ enrRoot: entryHash(top), linkRoot: entryHash(empty), seq: 1 }, key).text);
    const shallow = source(formatEnrTreeUrl(key.publicKey, "deep.example.org"), { maxDepth: 3 });
    expect(await shallow.discover()).to.deep.equal([]);
    expect(shallow.lastStats!.skipped.map((s) => s.reason)).to.deep.equal(["too-deep"]);
    const deepEnough = source(formatEnrTreeUrl(key.publicKey, "deep.example.org"), { maxDepth: 8 });
    expect(await deepEnough.discover()).to.deep.equal([enrs[0]]);
  });

  it("refuses a root whose seq went backwards (a replayed older tree)", async () => {
    const dns = source();
    await dns.discover();
    const older = buildEnrTree({ domain: "nodes.example.org", enrs: enrs.slice(0, 2), seq: 2, privateKey: treeKey });
    zone.records.clear();
    zone.publish(older);
    const err = await dns.discover().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(MailserverSdkError).with.property("code", "DNS_TREE_STALE");
    expect(dns.lastSeq(tree.url)).to.equal(3);
    // A restarted app that saved the seqs refuses the replay from its first call.
    const restarted = source(tree.url, { knownSeqs: dns.seqs() });
    expect(await restarted.discover().catch((e: unknown) => e)).to.be.instanceOf(MailserverSdkError).with.property("code", "DNS_TREE_STALE");
    // A newer one is accepted.
    zone.publish(buildEnrTree({ domain: "nodes.example.org", enrs: enrs.slice(0, 2), seq: 4, privateKey: treeKey }));
    expect(await dns.discover()).to.have.length(2);
  });

  it("a lookup failure of the root is DNS_LOOKUP_FAILED, reported as a failed source by combineSources", async () => {
    const dead = new DnsEnrTreeSource({ url: tree.url, resolveTxt: nodeDnsResolver({ servers: ["127.0.0.1:1"], timeoutMs: 300, tries: 1 }) });
    const err = await dead.discover().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(MailserverSdkError).with.property("code", "DNS_LOOKUP_FAILED");
    const result = await combineSources(dead, new StaticEnrSource(enrs.slice(0, 1))).discoverDetailed();
    expect(result.failures.map((f) => f.source)).to.deep.equal([dead.name]);
    expect(result.nodes).to.have.length(1);
  });

  it("a resolver that throws or answers garbage gives DNS_LOOKUP_FAILED, never a crash", async () => {
    const resolvers = [
      () => {
        throw new Error("boom");
      },
      async () => 42 as unknown as string[][],
      async () => [[1, 2]] as unknown as string[][],
    ];
    for (const resolveTxt of resolvers) {
      const err = await new DnsEnrTreeSource({ url: tree.url, resolveTxt }).discover().catch((e: unknown) => e);
      expect(err).to.be.instanceOf(MailserverSdkError).with.property("code", "DNS_LOOKUP_FAILED");
    }
    // Garbage below the root is skipped: the root verifies, the leaves' lookups fail.
    const real = nodeDnsResolver({ servers: [zone.server], timeoutMs: 2000, tries: 1 });
    const flaky = new DnsEnrTreeSource({ url: tree.url, resolveTxt: async (name) => (name === tree.domain ? real(name) : (null as unknown as string[][])) });
    expect(await flaky.discover()).to.deep.equal([]);
    expect(flaky.lastStats!.skipped[0]!.reason).to.equal("lookup-failed");
  });

  it("DNS-over-HTTPS (JSON) with plain fetch, against an HTTP endpoint answering from the same zone", async () => {
    const http: Server = createServer((req, res) => {
      const url = new URL(req.url!, "http://x");
      const name = url.searchParams.get("name")!.toLowerCase();
      const strings = zone.records.get(name);
      res.setHeader("content-type", "application/dns-json");
      res.end(JSON.stringify(strings === undefined
        ? { Status: 3 }
        : { Status: 0, Answer: [{ name, type: 16, TTL: 60, data: strings.map((s) => `"${s.replace(/"/g, '\\"')}"`).join(" ") }] }));
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    try {
      const port = (http.address() as { port: number }).port;
      const dns = new DnsEnrTreeSource({ url: tree.url, resolveTxt: dnsOverHttpsResolver({ url: `http://127.0.0.1:${port}/dns-query` }) });
      expect(new Set(await dns.discover())).to.deep.equal(new Set(enrs));
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it("README's discovery example: DNS tree plus discv5, only Status-network store nodes, merged", async () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const example = readFileSync(new URL("../../examples/discovery.ts", import.meta.url), "utf8");
    const snippet = /\/\/ README:start\n([\s\S]*?)\n\s*\/\/ README:end/.exec(example)![1]!.split("\n").map((l) => l.slice(2)).join("\n");
    expect(readme).to.include(snippet);

    const servers: MailserverDiscoveryHandle[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        servers.push(await startMailserverDiscovery({
          privateKey: nodeKey(), ip: "127.0.0.1", port: 0, shards: STATUS_NETWORK, bootEnrs: servers.map((x) => x.enr), lookupIntervalMs: 0,
        }));
      }
      // Another network's store node on discv5 too: found, and filtered out.
      servers.push(await startMailserverDiscovery({ privateKey: nodeKey(), ip: "127.0.0.1", port: 0, shards: THE_WAKU_NETWORK, bootEnrs: [servers[0]!.enr], lookupIntervalMs: 0 }));
      for (const server of servers) await server.lookup();
      const otherNetwork = buildNodeEnr({ privateKey: nodeKey(), ip: "10.9.9.9", udp: 1, shards: THE_WAKU_NETWORK }).enr;
      const fleet = buildEnrTree({ domain: "fleet.example.org", enrs: [...enrs.slice(0, 5), servers[1]!.enr, otherNetwork], seq: 1, privateKey: treeKey });
      zone.publish(fleet);
      const { nodes, failures } = await discoveryExample([servers[0]!.enr], nodeDnsResolver({ servers: [zone.server] }), fleet.url, "127.0.0.1");
      expect(failures).to.deep.equal([]);
      const ids = new Set(nodes.map((n) => n.nodeId));
      expect(ids).to.deep.equal(new Set([...enrs.slice(0, 5), ...servers.slice(0, 3).map((x) => x.enr)].map((e) => parseEnr(e).nodeId)));
      expect(nodes.find((n) => n.nodeId === servers[1]!.nodeId)!.sources).to.have.length(2); // from DNS and discv5
    } finally {
      await Promise.all(servers.map((x) => x.stop()));
    }
  });
});
