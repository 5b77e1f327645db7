// SDK parts that need no chain: errors, retries, deployments, node keys, ENRs, request signing
// and the access gate over an in-memory subscription lookup.
import { expect } from "chai";
import { ENR, SignableENR } from "@chainsafe/enr";
import { AbiCoder, BaseWallet, getBytes, Interface, keccak256, SigningKey, TypedDataEncoder, verifyTypedData, Wallet, ZeroAddress, ZeroHash, type ParamType } from "ethers";
import {
  CONTRACT_ERROR_CODES,
  DEPLOYMENTS,
  MAILSERVER_KIND,
  MailserverSdkError,
  NODE_KEY_PROOF_TYPES,
  decodeContractError,
  endpointOf,
  isSdkError,
  isValidEnr,
  kindId,
  nodeAddress,
  nodeIdFromPrivateKey,
  nodeIdFromPublicKey,
  nodeKeyProofDomain,
  parseEnr,
  requestDigestOf,
  resolveDeployment,
  sameEndpoint,
  signNodeKeyProof,
  signRequest,
  accessTypedDataDomain,
  recoverInJs,
  requestSigningHash,
  REQUEST_TYPES,
  toSdkError,
  withRetry,
  type SignedRequest,
} from "@status/mailserver-sdk";
import {
  AccessGate,
  ReplayGuard,
  loadNativeRecovery,
  type SubscriptionLookup,
} from "@status/mailserver-sdk/server";
import { artifacts } from "hardhat";
import { expectSdkError } from "../helpers/sdkErrors.js";


function makeEnr(privateKey: string, endpoint: { ip?: string; tcp?: number; udp?: number } = {}): string {
  const enr = SignableENR.createV4(getBytes(privateKey));
  if (endpoint.ip !== undefined) enr.ip = endpoint.ip;
  if (endpoint.tcp !== undefined) enr.tcp = endpoint.tcp;
  if (endpoint.udp !== undefined) enr.udp = endpoint.udp;
  return enr.encodeTxt();
}

function sampleValue(param: ParamType): unknown {
  if (param.baseType === "address") return ZeroAddress;
  if (param.baseType === "bool") return true;
  if (param.baseType === "string") return "x";
  if (param.baseType === "bytes32") return ZeroHash;
  if (param.baseType.startsWith("uint")) return 1n;
  throw new Error(`no sample for ${param.type}`);
}

describe("SDK offline: errors", () => {
  let interfaces: Interface[] = [];
  before(async () => {
    interfaces = await Promise.all(
      ["IMailServerRegistry", "ISubscriptionEscrow"].map(async (name) => new Interface((await artifacts.readArtifact(name)).abi)),
    );
  });

  it("maps every custom error of the registry and escrow interfaces to its own code with named args", () => {
    let count = 0;
    for (const iface of interfaces) {
      iface.forEachError((fragment) => {
        if (fragment.name === "Error" || fragment.name === "Panic") return;
        const data = iface.encodeErrorResult(fragment, fragment.inputs.map(sampleValue));
        const decoded = decodeContractError(data);
        expect(decoded, fragment.name).to.not.equal(undefined);
        expect(decoded!.name).to.equal(fragment.name);
        expect(decoded!.code, fragment.name).to.equal((CONTRACT_ERROR_CODES as Record<string, string>)[fragment.name]);
        for (const input of fragment.inputs) expect(decoded!.args).to.have.property(input.name);
        count++;
      });
    }
    expect(count).to.be.greaterThan(40);
  });

  it("decodes OpenZeppelin errors, Error(string) and gives up on unknown data", () => {
    const oz = new Interface(["error AccessControlUnauthorizedAccount(address account, bytes32 neededRole)", "error EnforcedPause()"]);
    const account = Wallet.createRandom().address;
    const decoded = decodeContractError(oz.encodeErrorResult("AccessControlUnauthorizedAccount", [account, ZeroHash]));
    expect(decoded).to.deep.include({ name: "AccessControlUnauthorizedAccount", code: "ACCESS_CONTROL_UNAUTHORIZED_ACCOUNT" });
    expect(decoded!.args.account).to.equal(account);
    expect(decodeContractError(oz.encodeErrorResult("EnforcedPause", []))?.code).to.equal("ENFORCED_PAUSE");

    const revertString = "0x08c379a0" + AbiCoder.defaultAbiCoder().encode(["string"], ["nope"]).slice(2);
    expect(decodeContractError(revertString)).to.deep.include({ name: "Error", code: "CONTRACT_ERROR" });
    expect(decodeContractError(revertString)!.args.reason).to.equal("nope");
    expect(decodeContractError("0xdeadbeef")).to.equal(undefined);
    expect(decodeContractError("0x")).to.equal(undefined);
    expect(decodeContractError("not hex")).to.equal(undefined);
  });

  it("wraps nested provider errors into MailserverSdkError with decoded details", () => {
    const registry = interfaces[0]!;
    const nodeId = keccak256("0x01");
    const data = registry.encodeErrorResult("NodeAlreadyRegistered", [nodeId]);
    const wrapped = toSdkError({ message: "outer", error: { info: { error: { data } } } }, "addNode");
    expect(wrapped).to.be.instanceOf(MailserverSdkError);
    expect(wrapped.code).to.equal("NODE_ALREADY_REGISTERED");
    expect(wrapped.details).to.deep.include({ contractError: "NodeAlreadyRegistered", nodeId });
    expect(wrapped.cause).to.be.an("object");
    expect(isSdkError(wrapped, "NODE_ALREADY_REGISTERED")).to.equal(true);

    expect(toSdkError(new Error("boom"), "x").code).to.equal("CONTRACT_ERROR");
    expect(toSdkError({ code: "NETWORK_ERROR", message: "down" }, "x").code).to.equal("RPC_UNAVAILABLE");
    const sdk = new MailserverSdkError("INVALID_ARGUMENT", "same");
    expect(toSdkError(sdk, "x")).to.equal(sdk);
  });

  it("retries transient failures with backoff, then RPC_UNAVAILABLE; never retries reverts", async () => {
    let calls = 0;
    const value = await withRetry(
      "read",
      async () => {
        calls++;
        if (calls < 3) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
        return 42;
      },
      { baseDelayMs: 1 },
    );
    expect(value).to.equal(42);
    expect(calls).to.equal(3);

    calls = 0;
    const down = await expectSdkError(
      withRetry("read", async () => {
        calls++;
        throw { code: "NETWORK_ERROR", message: "network down" };
      }, { attempts: 3, baseDelayMs: 1 }),
      "RPC_UNAVAILABLE",
    );
    expect(calls).to.equal(3);
    expect(down.details).to.deep.equal({ attempts: 3 });

    calls = 0;
    await expectSdkError(
      withRetry("read", async () => {
        calls++;
        throw { code: "CALL_EXCEPTION", message: "reverted", data: "0x" };
      }, { baseDelayMs: 1 }),
      "CONTRACT_ERROR",
    );
    expect(calls).to.equal(1);
  });
});

describe("SDK offline: deployments", () => {
  it("keeps DEPLOYMENTS a plain object and merges overrides over it", async () => {
    expect(Object.getPrototypeOf(DEPLOYMENTS)).to.equal(Object.prototype);
    const registry = Wallet.createRandom().address.toLowerCase();
    const resolved = resolveDeployment(999_999n, { registry, startBlock: 5 });
    expect(resolved.registry?.toLowerCase()).to.equal(registry);
    expect(resolved.registry).to.not.equal(registry); // checksummed
    expect(resolved.startBlock).to.equal(5);
    expect(resolved.escrow).to.equal(undefined);
    await expectSdkError(() => resolveDeployment(1, { escrow: "0x1234" }), "INVALID_ARGUMENT");
  });
});

describe("SDK offline: node keys", () => {
  const wallet = Wallet.createRandom();
  const key = new SigningKey(wallet.privateKey);

  it("derives the ENR node id from any public key form and the node address from the id", () => {
    const uncompressed = key.publicKey;
    const expected = keccak256("0x" + uncompressed.slice(4));
    expect(nodeIdFromPublicKey(uncompressed)).to.equal(expected);
    expect(nodeIdFromPublicKey(key.compressedPublicKey)).to.equal(expected);
    expect(nodeIdFromPublicKey("0x" + uncompressed.slice(4))).to.equal(expected);
    expect(nodeIdFromPrivateKey(wallet.privateKey)).to.equal(expected);
    expect(nodeAddress(expected)).to.equal(wallet.address);
    expect(parseEnr(makeEnr(wallet.privateKey)).nodeId).to.equal(expected);
  });

  it("rejects malformed keys and ids with INVALID_ARGUMENT", async () => {
    await expectSdkError(() => nodeIdFromPublicKey("0x1234"), "INVALID_ARGUMENT");
    await expectSdkError(() => nodeIdFromPrivateKey("0x00"), "INVALID_ARGUMENT");
    await expectSdkError(() => nodeAddress("0x1234"), "INVALID_ARGUMENT");
  });

  it("names kinds by keccak256 and passes bytes32 through", () => {
    expect(kindId("mailserver")).to.equal(MAILSERVER_KIND);
    expect(kindId(MAILSERVER_KIND)).to.equal(MAILSERVER_KIND);
  });

  it("signs node-key proofs that recover to the node address in the registry's EIP-712 domain", async () => {
    const registry = Wallet.createRandom().address;
    const provider = Wallet.createRandom().address;
    const nodeId = nodeIdFromPrivateKey(wallet.privateKey);
    const proof = await signNodeKeyProof({ nodeKey: wallet.privateKey, registry, chainId: 31337n, provider, deadline: 1000n });
    const signer = verifyTypedData(nodeKeyProofDomain(registry, 31337n), NODE_KEY_PROOF_TYPES, { provider, nodeId, kind: MAILSERVER_KIND, deadline: 1000n }, proof);
    expect(signer).to.equal(nodeAddress(nodeId));
    const otherNode = nodeIdFromPrivateKey(Wallet.createRandom().privateKey);
    await expectSdkError(signNodeKeyProof({ nodeKey: wallet.privateKey, registry, chainId: 1, provider, nodeId: otherNode, deadline: 1 }), "INVALID_ARGUMENT");
  });
});

describe("SDK offline: ENR", () => {
  const privateKey = Wallet.createRandom().privateKey;
  const text = makeEnr(privateKey, { ip: "10.1.2.3", tcp: 30303, udp: 30304 });

  it("parses a signed ENR into typed fields", () => {
    const parsed = parseEnr(text);
    expect(parsed.enr).to.equal(text);
    expect(parsed.nodeId).to.equal(nodeIdFromPrivateKey(privateKey));
    expect(parsed.publicKey).to.equal(new SigningKey(privateKey).compressedPublicKey);
    expect(parsed).to.deep.include({ ip: "10.1.2.3", tcp: 30303, udp: 30304 });
    expect(parsed.seq).to.be.a("bigint");
    expect(parsed.peerId).to.match(/^16U/);
    expect(parsed.kvs.get("id")).to.deep.equal(new TextEncoder().encode("v4"));
    // An ENR object gives the same result.
    expect(parseEnr(ENR.decodeTxt(text)).nodeId).to.equal(parsed.nodeId);
  });

  it("rejects garbage and badly signed records with INVALID_ENR, never a crash", async () => {
    for (const bad of ["", "enr:", "enr:!!!", "hello", "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0"]) {
      await expectSdkError(() => parseEnr(bad), "INVALID_ENR");
      expect(isValidEnr(bad)).to.equal(false);
    }
    const record = ENR.decodeTxt(text);
    const signature = Uint8Array.from(record.signature);
    signature[10] = signature[10]! ^ 0xff;
    const forged = new ENR(record.kvs, record.seq, signature).encodeTxt();
    await expectSdkError(() => parseEnr(forged), "INVALID_ENR");
    // Same signature, changed content.
    const moved = new ENR(new Map([...record.kvs, ["tcp", Uint8Array.from([0x10, 0x00])]]), record.seq, record.signature).encodeTxt();
    await expectSdkError(() => parseEnr(moved), "INVALID_ENR");
    expect(isValidEnr(text)).to.equal(true);
  });

  it("compares an ENR's endpoint with ENR, multiaddr and enode records", () => {
    const parsed = parseEnr(text);
    const mine = endpointOf(parsed)!;
    expect(mine).to.deep.include({ ip4: "10.1.2.3", tcp: 30303, udp: 30304 });
    expect(sameEndpoint(mine, endpointOf(text)!)).to.equal(true);
    expect(sameEndpoint(mine, endpointOf("/ip4/10.1.2.3/tcp/30303")!)).to.equal(true);
    expect(sameEndpoint(mine, endpointOf(`/ip4/10.1.2.3/tcp/30303/p2p/${parsed.peerId}`)!)).to.equal(true);
    expect(sameEndpoint(mine, endpointOf("/ip4/10.1.2.4/tcp/30303")!)).to.equal(false);
    expect(sameEndpoint(mine, endpointOf("/ip4/10.1.2.3/tcp/30304")!)).to.equal(false);
    const stranger = parseEnr(makeEnr(Wallet.createRandom().privateKey, { ip: "10.1.2.3", tcp: 30303, udp: 30304 }));
    expect(sameEndpoint(mine, endpointOf(stranger)!)).to.equal(false);
    expect(sameEndpoint(mine, endpointOf(`/ip4/10.1.2.3/tcp/30303/p2p/${stranger.peerId}`)!)).to.equal(false);
    const uncompressed = new SigningKey(privateKey).publicKey.slice(4);
    expect(sameEndpoint(mine, endpointOf(`enode://${uncompressed}@10.1.2.3:30303?discport=30304`)!)).to.equal(true);
    expect(endpointOf("nonsense")).to.equal(undefined);
    expect(endpointOf("enr:garbage")).to.equal(undefined);
    expect(endpointOf("/ip4/10.0.0.1/tcp/99999")).to.equal(undefined);
  });
});

class MemoryLookup implements SubscriptionLookup {
  caughtUp = true;
  reads = 0;
  readonly expiries = new Map<string, bigint>();
  isCaughtUp(): boolean {
    return this.caughtUp;
  }
  expiryOf(nodeId: string, clientId: string): bigint {
    return this.expiries.get(`${nodeId.toLowerCase()}|${clientId.toLowerCase()}`) ?? 0n;
  }
  async readExpiry(nodeId: string, clientId: string): Promise<bigint> {
    this.reads++;
    return this.expiryOf(nodeId, clientId);
  }
  set(nodeId: string, clientId: string, expiry: bigint): void {
    this.expiries.set(`${nodeId.toLowerCase()}|${clientId.toLowerCase()}`, expiry);
  }
}

describe("SDK offline: request signing and the access gate", () => {
  const domain = { chainId: 31337n, escrow: Wallet.createRandom().address };
  const nodeKey = Wallet.createRandom().privateKey;
  const nodeId = nodeIdFromPrivateKey(nodeKey);
  const otherNode = nodeIdFromPrivateKey(Wallet.createRandom().privateKey);
  const peerId = parseEnr(makeEnr(Wallet.createRandom().privateKey)).peerId;
  const otherPeer = parseEnr(makeEnr(Wallet.createRandom().privateKey)).peerId;
  const digest = requestDigestOf("query: messages since 42");
  let now = 1_800_000_000;
  let client: BaseWallet;
  let lookup: MemoryLookup;
  let gate: AccessGate;

  const request = (overrides: Partial<{ nodeId: string; issuedAt: number; nonce: string; peerId: string }> = {}, signer: BaseWallet = client) =>
    signRequest(signer, { nodeId, requestDigest: digest, peerId, issuedAt: now, ...overrides }, domain);

  beforeEach(() => {
    now = 1_800_000_000;
    client = Wallet.createRandom();
    lookup = new MemoryLookup();
    lookup.set(nodeId, client.address, BigInt(now + 3600));
    gate = new AccessGate({ nodeId, escrow: domain.escrow, chainId: domain.chainId, index: lookup, now: () => now });
  });

  it("signs EIP-712 requests with the client key", async () => {
    const signed = await request();
    expect(signed.clientId).to.equal(client.address);
    expect(signed.nonce).to.match(/^0x[0-9a-f]{64}$/);
    expect(signed.issuedAt).to.equal(now);
    expect(JSON.parse(JSON.stringify(signed))).to.deep.equal(signed);
  });

  it("allows a subscribed client and reports its expiry", async () => {
    const decision = await gate.check(await request(), { connectionPeerId: peerId, requestDigest: digest });
    expect(decision).to.deep.equal({ allowed: true, reason: "allowed", clientId: client.address, expiresAt: new Date((now + 3600) * 1000) });
    expect(lookup.reads).to.equal(0);
  });

  it("hashes requests like EIP-712 and recovers signers alike through libsecp256k1 and JavaScript", async () => {
    const native = await loadNativeRecovery();
    expect(native, "the secp256k1 binding should load on this platform").to.not.equal(undefined);
    const typedDomain = accessTypedDataDomain(domain);
    const separator = TypedDataEncoder.hashDomain(typedDomain);
    for (let i = 0; i < 10; i++) {
      const signer = Wallet.createRandom();
      const signed = await request({}, signer);
      const { signature, ...fields } = signed;
      const hash = requestSigningHash(signed, separator);
      expect(hash).to.equal(TypedDataEncoder.hash(typedDomain, REQUEST_TYPES, fields));
      expect(native!(hash, signature)).to.equal(signer.address);
      expect(recoverInJs(hash, signature)).to.equal(signer.address);
      expect(native!(hash, "0x1234")).to.equal(undefined);
      expect(recoverInJs(hash, "0x1234")).to.equal(undefined);
    }
    const signed = await request();
    const jsGate = new AccessGate({ nodeId, escrow: domain.escrow, chainId: domain.chainId, index: lookup, now: () => now, signatureRecovery: "js" });
    expect(await gate.check(signed, { connectionPeerId: peerId })).to.deep.equal(await jsGate.check(signed, { connectionPeerId: peerId }));
    expect(gate.signatureBackend).to.equal("native");
    expect(jsGate.signatureBackend).to.equal("js");
  });

  it("bad-signature: forged client id, tampered signature, other digest, malformed input", async () => {
    const signed = await request();
    const forged: SignedRequest = { ...signed, clientId: Wallet.createRandom().address };
    expect((await gate.check(forged, { connectionPeerId: peerId })).reason).to.equal("bad-signature");
    const tampered: SignedRequest = { ...signed, signature: signed.signature.slice(0, 10) + (signed.signature[10] === "0" ? "1" : "0") + signed.signature.slice(11) };
    expect((await gate.check(tampered, { connectionPeerId: peerId })).reason).to.equal("bad-signature");
    expect((await gate.check(signed, { connectionPeerId: peerId, requestDigest: requestDigestOf("another query") })).reason).to.equal("bad-signature");
    for (const junk of [{}, { ...signed, signature: "0x1234" }, { ...signed, issuedAt: -1 }, { ...signed, nonce: "0x12" }, null]) {
      const decision = await gate.check(junk as unknown as SignedRequest, { connectionPeerId: peerId });
      expect(decision).to.deep.equal({ allowed: false, reason: "bad-signature" });
    }
  });

  it("wrong-node: a request signed for another node", async () => {
    const decision = await gate.check(await request({ nodeId: otherNode }), { connectionPeerId: peerId });
    expect(decision).to.deep.equal({ allowed: false, reason: "wrong-node", clientId: client.address });
  });

  it("peer-mismatch: a request replayed from another connection", async () => {
    const decision = await gate.check(await request(), { connectionPeerId: otherPeer });
    expect(decision).to.deep.equal({ allowed: false, reason: "peer-mismatch", clientId: client.address });
  });

  it("stale: issued outside ±maxSkew", async () => {
    expect((await gate.check(await request({ issuedAt: now - 61 }), { connectionPeerId: peerId })).reason).to.equal("stale");
    expect((await gate.check(await request({ issuedAt: now + 61 }), { connectionPeerId: peerId })).reason).to.equal("stale");
    expect((await gate.check(await request({ issuedAt: now - 60 }), { connectionPeerId: peerId })).reason).to.equal("allowed");
    expect((await gate.check(await request({ issuedAt: now + 60 }), { connectionPeerId: peerId })).reason).to.equal("allowed");
  });

  it("replay: the same nonce twice from a client; memory is freed once the window passes", async () => {
    const signed = await request();
    expect((await gate.check(signed, { connectionPeerId: peerId })).reason).to.equal("allowed");
    expect((await gate.check(signed, { connectionPeerId: peerId })).reason).to.equal("replay");
    // Another client may use the same nonce.
    const other = Wallet.createRandom();
    lookup.set(nodeId, other.address, BigInt(now + 10));
    expect((await gate.check(await request({ nonce: signed.nonce }, other), { connectionPeerId: peerId })).reason).to.equal("allowed");
    expect(gate.rememberedNonces).to.equal(2);
    now += 61;
    // The old request is stale now, so forgetting its nonce is safe.
    expect((await gate.check(signed, { connectionPeerId: peerId })).reason).to.equal("stale");
    expect(gate.rememberedNonces).to.equal(0);
  });

  it("no-subscription and expired", async () => {
    const stranger = Wallet.createRandom();
    expect(await gate.check(await request({}, stranger), { connectionPeerId: peerId })).to.deep.equal({
      allowed: false,
      reason: "no-subscription",
      clientId: stranger.address,
    });
    lookup.set(nodeId, client.address, BigInt(now));
    const decision = await gate.check(await request(), { connectionPeerId: peerId });
    expect(decision).to.deep.include({ allowed: false, reason: "expired", clientId: client.address });
    expect(decision.expiresAt).to.deep.equal(new Date(now * 1000));
  });

  it("reads the contract only until the index has caught up", async () => {
    lookup.caughtUp = false;
    expect((await gate.check(await request(), { connectionPeerId: peerId })).reason).to.equal("allowed");
    expect(lookup.reads).to.equal(1);
    lookup.caughtUp = true;
    for (let i = 0; i < 20; i++) expect((await gate.check(await request(), { connectionPeerId: peerId })).allowed).to.equal(true);
    expect(lookup.reads).to.equal(1);
  });

  it("free mode admits any valid signer but keeps the other checks", async () => {
    const free = new AccessGate({ nodeId, escrow: domain.escrow, chainId: domain.chainId, index: lookup, now: () => now, freeMode: true });
    const stranger = Wallet.createRandom();
    const signed = await request({}, stranger);
    expect(await free.check(signed, { connectionPeerId: peerId })).to.deep.equal({ allowed: true, reason: "allowed", clientId: stranger.address });
    expect((await free.check(signed, { connectionPeerId: peerId })).reason).to.equal("replay");
    expect((await free.check(await request({}, stranger), { connectionPeerId: otherPeer })).reason).to.equal("peer-mismatch");
    expect((await free.check(await request({ nodeId: otherNode }, stranger), { connectionPeerId: peerId })).reason).to.equal("wrong-node");
    expect((await free.check(await request({ issuedAt: now - 600 }, stranger), { connectionPeerId: peerId })).reason).to.equal("stale");
    expect((await free.check({ ...signed, clientId: client.address }, { connectionPeerId: peerId })).reason).to.equal("bad-signature");
    expect(lookup.reads).to.equal(0);
  });

  it("a request for another escrow or chain does not verify", async () => {
    const elsewhere = await signRequest(client, { nodeId, requestDigest: digest, peerId, issuedAt: now }, { chainId: 1n, escrow: domain.escrow });
    expect((await gate.check(elsewhere, { connectionPeerId: peerId })).reason).to.equal("bad-signature");
  });

  it("ReplayGuard stays bounded under load", () => {
    const guard = new ReplayGuard(5);
    for (let t = 0; t < 100; t++) {
      for (let i = 0; i < 50; i++) expect(guard.admit("0xabc", `0x${t}-${i}`, t, t)).to.equal(true);
      expect(guard.size).to.be.at.most(50 * 6);
    }
  });
});
