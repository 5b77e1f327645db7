// The root's own ENR codec (ethers only, so that the root bundles small for browsers) agrees with
// @chainsafe/enr, which the discv5 side runs, in both directions, and holds records to
// EIP-778's rules: signature, size, sorted keys, identity scheme.
import { expect } from "chai";
import { ENR, SignableENR } from "@chainsafe/enr";
import { concat, encodeBase64, encodeRlp, getBytes, hexlify, keccak256, SigningKey, toBeHex, toUtf8Bytes, Wallet } from "ethers";
import { MailserverSdkError, SERVICE_KIND_ENR_KEY, buildNodeEnr, decodeKinds, enrKinds, kindId, parseEnr } from "@status/mailserver-sdk";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Signs an arbitrary v4 record with ethers: `pairs` in the given order, nothing checked. */
function handMade(key: string, seq: bigint, pairs: [string, string][], tweak: { highS?: boolean } = {}): string {
  const content = [seq === 0n ? "0x" : toBeHex(seq), ...pairs.flatMap(([k, v]) => [hexlify(toUtf8Bytes(k)), v])];
  const signature = new SigningKey(key).sign(keccak256(encodeRlp(content)));
  const s = tweak.highS ? toBeHex(N - BigInt(signature.s), 32) : signature.s;
  const bytes = getBytes(encodeRlp([concat([signature.r, s]), ...content]));
  return `enr:${encodeBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

function v4Pairs(key: string, extra: [string, string][] = []): [string, string][] {
  const pairs: [string, string][] = [["id", hexlify(toUtf8Bytes("v4"))], ["secp256k1", new SigningKey(key).compressedPublicKey], ...extra];
  return pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function expectInvalid(text: string, reason: RegExp): void {
  let error: unknown;
  try {
    parseEnr(text);
  } catch (e) {
    error = e;
  }
  expect(error).to.be.instanceOf(MailserverSdkError).with.property("code", "INVALID_ENR");
  expect((error as Error).message).to.match(reason);
}

describe("ENR codec (root, ethers only)", () => {
  it("decodes EIP-778's example record", () => {
    const example =
      "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
    const parsed = parseEnr(example);
    expect(parsed.nodeId).to.equal("0xa448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7");
    expect(parsed).to.deep.include({ seq: 1n, ip: "127.0.0.1", udp: 30303 });
    expect(parsed.publicKey).to.equal("0x03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138");
  });

  it("reads records made by @chainsafe/enr exactly as it does (ids, keys, peer id, endpoints, every key)", () => {
    const cases = [
      { ip: "10.1.2.3", tcp: 30303, udp: 9000 },
      { ip: "127.0.0.1", tcp: 80, udp: 1 },
      { ip6: "::1", udp6: 30303 },
      { ip6: "2001:db8::8a2e:370:7334", tcp6: 443, udp6: 65535 },
      { ip6: "fe80::1:0:0:1", tcp6: 8000 },
      { ip: "192.168.0.1", ip6: "2001:db8:0:1:1:1:1:1", udp: 30303, udp6: 30304 },
    ];
    for (const endpoint of cases) {
      const key = Wallet.createRandom().privateKey;
      const record = SignableENR.createV4(getBytes(key));
      Object.assign(record, endpoint);
      record.set("waku2", Uint8Array.from([0x03]));
      const text = record.encodeTxt();
      const theirs = ENR.decodeTxt(text);
      const mine = parseEnr(text);
      expect(mine.nodeId).to.equal(`0x${theirs.nodeId}`);
      expect(mine.peerId).to.equal(theirs.peerId.toString());
      expect(mine.publicKey).to.equal(hexlify(theirs.publicKey));
      expect(mine.seq).to.equal(theirs.seq);
      for (const field of ["ip", "ip6", "tcp", "udp", "tcp6", "udp6"] as const) expect(mine[field], field).to.equal(theirs[field]);
      expect([...mine.kvs.entries()].map(([k, v]) => [k, hexlify(v)])).to.deep.equal([...theirs.kvs.entries()].map(([k, v]) => [k, hexlify(v)]));
    }
  });

  it("builds records that @chainsafe/enr accepts, with the same endpoint, kinds and sequence number", () => {
    for (const [ip, expected] of [
      ["203.0.113.7", "203.0.113.7"],
      ["::1", "::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ] as const) {
      const key = Wallet.createRandom().privateKey;
      const built = buildNodeEnr({ privateKey: key, ip, udp: 30303, tcp: 60000, kind: ["mailserver", "push"], seq: 7n });
      const theirs = ENR.decodeTxt(built.enr); // checks the signature
      expect(`0x${theirs.nodeId}`).to.equal(built.nodeId);
      expect(theirs.seq).to.equal(7n);
      const v6 = ip.includes(":");
      expect(v6 ? theirs.ip6 : theirs.ip).to.equal(expected);
      expect(v6 ? theirs.udp6 : theirs.udp).to.equal(30303);
      expect(v6 ? theirs.tcp6 : theirs.tcp).to.equal(60000);
      // A mail server is the waku2 store bit; a kind without a Waku capability goes under srvkind.
      expect(hexlify(theirs.kvs.get("waku2")!)).to.equal("0x02");
      expect(decodeKinds(theirs.kvs.get(SERVICE_KIND_ENR_KEY))).to.deep.equal([kindId("push")]);
      expect(enrKinds(built.enr)).to.deep.equal([kindId("mailserver"), kindId("push")]);
      expect(parseEnr(built.enr)[v6 ? "ip6" : "ip"]).to.equal(expected);
    }
  });

  it("refuses bad addresses and oversized records when building", () => {
    const privateKey = Wallet.createRandom().privateKey;
    for (const ip of ["10.1.2", "256.1.1.1", "01.2.3.4", "1::2::3", "12345::1", "1:2:3:4:5:6:7:8:9", "example.org"]) {
      expect(() => buildNodeEnr({ privateKey, ip, udp: 1 }), ip).to.throw(MailserverSdkError, /IP address/);
    }
    const kinds = Array.from({ length: 8 }, (_, i) => `kind-${i}`);
    expect(() => buildNodeEnr({ privateKey, ip: "10.0.0.1", udp: 1, kind: kinds })).to.throw(MailserverSdkError, /more than 300/);
  });

  it("accepts sequence number 0 and byte-sorted keys, as go-ethereum does", () => {
    const key = Wallet.createRandom().privateKey;
    const parsed = parseEnr(handMade(key, 0n, v4Pairs(key, [["ip", "0x0a000001"], ["udp", "0x76"]])));
    expect(parsed.seq).to.equal(0n);
    expect(parsed).to.deep.include({ ip: "10.0.0.1", udp: 0x76 });
  });

  it("rejects what EIP-778 forbids: unsorted or repeated keys, other schemes, high-s or foreign signatures, more than 300 bytes", () => {
    const key = Wallet.createRandom().privateKey;
    const other = Wallet.createRandom().privateKey;
    const pairs = v4Pairs(key, [["udp", "0x765f"]]);
    expectInvalid(handMade(key, 1n, [...pairs].reverse()), /sorted/);
    expectInvalid(handMade(key, 1n, [...pairs, ["udp", "0x01"]]), /sorted and unique/);
    expectInvalid(handMade(key, 1n, v4Pairs(key).map(([k, v]) => (k === "id" ? [k, hexlify(toUtf8Bytes("v5"))] : [k, v]))), /v4/);
    expectInvalid(handMade(key, 1n, pairs, { highS: true }), /bad signature/);
    expectInvalid(handMade(other, 1n, pairs), /bad signature/);
    expectInvalid(handMade(key, 1n, v4Pairs(key, [["zz", hexlify(new Uint8Array(200))]])), /more than 300/);
    expectInvalid(handMade(key, 1n, v4Pairs(key).filter(([k]) => k !== "secp256k1")), /secp256k1/);
    expectInvalid(`${handMade(key, 1n, pairs)}$`, /base64url/);
    expect(parseEnr(handMade(key, 1n, pairs)).udp).to.equal(30303);
  });
});
