// RegistryClient / ProviderClient / CuratorClient / verifyNodes against the real deployment.
import { expect } from "chai";
import { SignableENR } from "@chainsafe/enr";
import { getBytes, hexlify, randomBytes, SigningKey, TypedDataEncoder, Wallet, type Provider } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";
import {
  CuratorClient,
  MAILSERVER_KIND,
  MailserverSdkError,
  NODE_KEY_PROOF_TYPES,
  ProviderClient,
  RegistryClient,
  TrustPolicy,
  kindId,
  nodeIdFromPrivateKey,
  nodeKeyProofDomain,
  signNodeKeyProof,
  verifyNode,
  verifyNodes,
} from "@status/mailserver-sdk";
import { deployLocal, type LocalDeployment } from "../../deploy/local.js";
import { expectSdkError } from "../helpers/sdkErrors.js";

type Connection = NetworkConnection;
type HardhatSigner = Awaited<ReturnType<Connection["ethers"]["getSigners"]>>[number];


function makeEnr(privateKey: string, ip = "10.0.0.1", tcp = 30303, seqBump = 0): string {
  const enr = SignableENR.createV4(getBytes(privateKey));
  enr.ip = ip;
  enr.tcp = tcp;
  enr.udp = tcp;
  for (let i = 0; i < seqBump; i++) enr.set("x", Uint8Array.of(i));
  return enr.encodeTxt();
}

/** Wraps a provider, counting RPC-level calls and optionally failing the first ones like a flaky network. */
function instrumentedProvider(inner: Provider, failFirstCalls = 0) {
  const counter = { calls: 0, failures: failFirstCalls };
  const counted = new Set(["call", "getLogs", "getBlock", "getBlockNumber", "getNetwork", "getCode", "estimateGas"]);
  const proxy: Provider = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "provider") return receiver;
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (typeof prop === "string" && counted.has(prop)) {
        return async (...args: unknown[]) => {
          counter.calls++;
          if (prop === "call" && counter.failures > 0) {
            counter.failures--;
            throw Object.assign(new Error("request failed: socket hang up"), { code: "NETWORK_ERROR" });
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { proxy, counter };
}

describe("SDK registry clients", function () {
  let connection: Connection;
  let deployment: LocalDeployment;
  let deployer: HardhatSigner;
  let provider2: HardhatSigner;
  let provider3: HardhatSigner;
  let stranger: HardhatSigner;
  let reader: RegistryClient;
  let curator: CuratorClient;
  let p1: ProviderClient; // the default provider (the deployer)
  let p2: ProviderClient;
  let addresses: { registry: string };

  before(async () => {
    connection = await network.create();
    deployment = await deployLocal(connection);
    [deployer, provider2, provider3, stranger] = (await connection.ethers.getSigners()) as [HardhatSigner, HardhatSigner, HardhatSigner, HardhatSigner];
    addresses = { registry: deployment.addresses.registry };
    const chainId = deployment.chainId;
    reader = new RegistryClient({ runner: connection.ethers.provider, chainId, addresses });
    curator = new CuratorClient({ runner: deployer, chainId, addresses });
    p1 = new ProviderClient({ runner: deployer, chainId, addresses });
    p2 = new ProviderClient({ runner: provider2, chainId, addresses });
  });

  it("reads the deployment's state", async () => {
    expect(await reader.chainId()).to.equal(deployment.chainId);
    expect(await reader.address()).to.equal(deployment.addresses.registry);
    expect(await reader.defaultProvider()).to.equal(deployer.address);
    const info = await reader.getProvider(deployer.address);
    expect(info).to.deep.include({ address: deployer.address, payout: deployer.address, status: "approved", name: "Status", nodeCount: 0 });
    expect(await reader.getProvider(stranger.address)).to.equal(undefined);
    expect(await reader.isKindEnabled("mailserver")).to.equal(true);
    expect(await reader.isKindEnabled(MAILSERVER_KIND)).to.equal(true);
    expect(await reader.isCurator(deployer.address)).to.equal(true);
    expect(await reader.isCurator(stranger.address)).to.equal(false);
    expect(await reader.revision()).to.be.greaterThan(0n);
    expect(await reader.getNode(nodeIdFromPrivateKey(Wallet.createRandom().privateKey))).to.equal(undefined);
    expect(await reader.isTrusted(nodeIdFromPrivateKey(Wallet.createRandom().privateKey))).to.equal(false);
  });

  it("provider flow: apply, approval, add a node from its key, manage it", async () => {
    await p2.applyAsProvider({ name: "Second", metadataURI: "https://two.example" });
    expect((await reader.getProvider(provider2.address))?.status).to.equal("pending");
    const revisionBefore = await reader.revision();
    await curator.approveProvider(provider2.address);
    expect((await reader.getProvider(provider2.address))?.status).to.equal("approved");
    expect(await reader.revision()).to.be.greaterThan(revisionBefore);

    const nodeKey = Wallet.createRandom().privateKey;
    const record = makeEnr(nodeKey, "10.0.0.2");
    const added = await p2.addNode({ nodeKey, record, pricePerMonth: 5n });
    expect(added.nodeId).to.equal(nodeIdFromPrivateKey(nodeKey));
    expect(added.receipt.status).to.equal(1);
    const node = await reader.getNode(added.nodeId);
    expect(node).to.deep.include({ provider: provider2.address, pricePerMonth: 5n, kind: MAILSERVER_KIND, status: "active", record, removedAt: 0n });
    expect(await reader.isTrusted(added.nodeId)).to.equal(true);

    const second = await p2.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.0.0.3/tcp/30303", pricePerMonth: 0 });
    expect((await reader.nodesByProvider(provider2.address)).items).to.deep.equal([added.nodeId, second.nodeId]);
    expect(await reader.allNodesByProvider(provider2.address, 1)).to.deep.equal([added.nodeId, second.nodeId]);
    expect((await reader.nodesByKind("mailserver", { offset: 1, limit: 1 })).items).to.deep.equal([second.nodeId]);
    expect(await reader.allNodesByKind(MAILSERVER_KIND, 1)).to.include.members([added.nodeId, second.nodeId]);
    expect(await reader.allProviders(1)).to.include.members([deployer.address, provider2.address]);
    expect((await reader.providers()).total).to.be.greaterThanOrEqual(2n);

    await p2.setNodePrice(added.nodeId, 7n);
    const newRecord = makeEnr(nodeKey, "10.0.0.22", 30303, 1);
    await p2.updateNodeRecord(added.nodeId, newRecord);
    expect(await reader.getNode(added.nodeId)).to.deep.include({ pricePerMonth: 7n, record: newRecord });
    await p2.setNodeActive(added.nodeId, false);
    expect((await reader.getNode(added.nodeId))?.status).to.equal("inactive");
    expect(await reader.isTrusted(added.nodeId)).to.equal(false);
    await p2.setNodeActive(added.nodeId, true);
    expect(await reader.isTrusted(added.nodeId)).to.equal(true);

    await p2.setPayout(stranger.address);
    await p2.setMetadata("Second Provider", "https://2.example");
    expect(await reader.getProvider(provider2.address)).to.deep.include({ payout: stranger.address, name: "Second Provider", metadataURI: "https://2.example", nodeCount: 2 });

    await p2.removeNode(second.nodeId);
    expect((await reader.getNode(second.nodeId))?.status).to.equal("removed");
    expect((await reader.nodesByProvider(provider2.address)).items).to.deep.equal([added.nodeId]);
  });

  it("adds a node with a proof signed elsewhere, matching the registry's digest", async () => {
    const nodeKey = Wallet.createRandom().privateKey;
    const nodeId = nodeIdFromPrivateKey(nodeKey);
    const deadline = BigInt(await connection.networkHelpers.time.latest()) + 600n;
    const digest = await reader.nodeKeyProofDigest(deployer.address, nodeId, "mailserver", deadline);
    const domain = nodeKeyProofDomain(deployment.addresses.registry, deployment.chainId);
    expect(TypedDataEncoder.hash(domain, NODE_KEY_PROOF_TYPES, { provider: deployer.address, nodeId, kind: MAILSERVER_KIND, deadline })).to.equal(digest);
    const proof = await signNodeKeyProof({ nodeKey, registry: deployment.addresses.registry, chainId: deployment.chainId, provider: deployer.address, deadline });
    const publicKey = new SigningKey(nodeKey).publicKey;
    const added = await p1.addNode({ publicKey, proof, deadline, record: makeEnr(nodeKey, "10.0.0.9"), pricePerMonth: 1n });
    expect(added.nodeId).to.equal(nodeId);
    expect(await reader.isTrusted(nodeId)).to.equal(true);
  });

  it("curator flow: add, suspend, reinstate, default provider, kinds, curators, removals", async () => {
    await curator.addProvider({ provider: provider3.address, name: "Third" });
    expect(await reader.getProvider(provider3.address)).to.deep.include({ status: "approved", payout: provider3.address });
    const p3 = new ProviderClient({ runner: provider3, addresses });
    const { nodeId } = await p3.addNode({ nodeKey: Wallet.createRandom().privateKey, record: "/ip4/10.0.0.30/tcp/1", pricePerMonth: 1 });

    await curator.suspendProvider(provider3.address, "checking");
    expect((await reader.getProvider(provider3.address))?.status).to.equal("suspended");
    expect(await reader.isTrusted(nodeId)).to.equal(false);
    await curator.reinstateProvider(provider3.address);
    expect(await reader.isTrusted(nodeId)).to.equal(true);

    await curator.setDefaultProvider(provider3.address);
    expect(await reader.defaultProvider()).to.equal(provider3.address);
    await curator.setDefaultProvider(deployer.address);

    await curator.setKindEnabled("pushserver", true);
    expect(await reader.isKindEnabled(kindId("pushserver"))).to.equal(true);
    await curator.setKindEnabled("pushserver", false);
    expect(await reader.isKindEnabled("pushserver")).to.equal(false);

    await curator.grantCurator(stranger.address);
    expect(await reader.isCurator(stranger.address)).to.equal(true);
    await curator.revokeCurator(stranger.address);
    expect(await reader.isCurator(stranger.address)).to.equal(false);

    await curator.removeNode(nodeId);
    expect((await reader.getNode(nodeId))?.status).to.equal("removed");
    await curator.removeProvider(provider3.address, "gone");
    expect((await reader.getProvider(provider3.address))?.status).to.equal("removed");
  });

  it("turns reverts into decoded error codes with their arguments", async () => {
    const nodeKey = Wallet.createRandom().privateKey;
    const { nodeId } = await p1.addNode({ nodeKey, record: makeEnr(nodeKey, "10.0.0.40"), pricePerMonth: 1 });

    const again = await expectSdkError(p1.addNode({ nodeKey, record: makeEnr(nodeKey, "10.0.0.40"), pricePerMonth: 1 }), "NODE_ALREADY_REGISTERED");
    expect(again.details).to.deep.include({ contractError: "NodeAlreadyRegistered", nodeId });

    const notMine = await expectSdkError(p2.setNodePrice(nodeId, 1), "NOT_NODE_PROVIDER");
    expect(notMine.details).to.deep.include({ nodeId, caller: provider2.address, provider: deployer.address });

    const outsider = new CuratorClient({ runner: stranger, addresses });
    const denied = await expectSdkError(outsider.approveProvider(provider2.address), "ACCESS_CONTROL_UNAUTHORIZED_ACCOUNT");
    expect(denied.details.account).to.equal(stranger.address);

    await expectSdkError(p1.updateNodeRecord(nodeIdFromPrivateKey(Wallet.createRandom().privateKey), "/ip4/1.2.3.4/tcp/1"), "UNKNOWN_NODE");
    await expectSdkError(reader.nodesByKind("mailserver", { limit: 1001 }), "PAGE_LIMIT_TOO_LARGE");
    await expectSdkError(curator.setKindEnabled("mailserver", true), "KIND_ALREADY_IN_STATE");
    await expectSdkError(p1.setNodeActive(nodeId, true), "NODE_ALREADY_IN_STATE");

    // Proofs: expired, and signed by another key.
    const other = Wallet.createRandom().privateKey;
    const otherKey = new SigningKey(other).compressedPublicKey;
    const past = BigInt(await connection.networkHelpers.time.latest()) - 1n;
    const expired = await signNodeKeyProof({ nodeKey: other, registry: deployment.addresses.registry, chainId: deployment.chainId, provider: deployer.address, deadline: past });
    await expectSdkError(p1.addNode({ publicKey: otherKey, proof: expired, deadline: past, record: "/ip4/1.1.1.1/tcp/1", pricePerMonth: 0 }), "PROOF_EXPIRED");
    const future = past + 3600n;
    const forged = await signNodeKeyProof({ nodeKey, registry: deployment.addresses.registry, chainId: deployment.chainId, provider: deployer.address, deadline: future });
    await expectSdkError(p1.addNode({ publicKey: otherKey, proof: forged, deadline: future, record: "/ip4/1.1.1.1/tcp/1", pricePerMonth: 0 }), "INVALID_NODE_KEY_PROOF");

    // Caught before sending: an ENR of another node, a malformed ENR, a read-only runner.
    await expectSdkError(p1.addNode({ nodeKey: other, record: makeEnr(nodeKey), pricePerMonth: 0 }), "INVALID_ARGUMENT");
    await expectSdkError(p1.addNode({ nodeKey: other, record: "enr:-garbage", pricePerMonth: 0 }), "INVALID_ENR");
    const readOnly = new ProviderClient({ runner: connection.ethers.provider, addresses });
    await expectSdkError(readOnly.setNodePrice(nodeId, 1), "INVALID_ARGUMENT");
  });

  it("checks the chain and the addresses on first use", async () => {
    const wrong = new RegistryClient({ runner: connection.ethers.provider, chainId: 1, addresses });
    const error = await expectSdkError(wrong.defaultProvider(), "WRONG_CHAIN");
    expect(error.details).to.deep.equal({ expected: 1n, actual: deployment.chainId });
    await expectSdkError(new RegistryClient({ runner: connection.ethers.provider }).defaultProvider(), "MISSING_ADDRESS");
    await expectSdkError(() => new RegistryClient({ runner: {} as Provider }), "INVALID_ARGUMENT");
  });

  it("retries transient RPC failures, then reports RPC_UNAVAILABLE", async () => {
    const flaky = instrumentedProvider(connection.ethers.provider, 2);
    const client = new RegistryClient({ runner: flaky.proxy, addresses, retry: { baseDelayMs: 1 } });
    expect(await client.defaultProvider()).to.equal(deployer.address);
    expect(flaky.counter.failures).to.equal(0);

    const down = instrumentedProvider(connection.ethers.provider, 1_000);
    const broken = new RegistryClient({ runner: down.proxy, addresses, retry: { attempts: 3, baseDelayMs: 1 } });
    await expectSdkError(broken.defaultProvider(), "RPC_UNAVAILABLE");
  });

  describe("verifyNodes", () => {
    const keys = {
      trusted: Wallet.createRandom().privateKey,
      otherProvider: Wallet.createRandom().privateKey,
      inactive: Wallet.createRandom().privateKey,
      removed: Wallet.createRandom().privateKey,
      kindOff: Wallet.createRandom().privateKey,
      unregistered: Wallet.createRandom().privateKey,
      custom: Wallet.createRandom().privateKey,
    };
    const enrs = Object.fromEntries(Object.entries(keys).map(([name, key], i) => [name, makeEnr(key, `10.1.0.${i + 1}`)])) as Record<keyof typeof keys, string>;

    before(async () => {
      await p1.addNode({ nodeKey: keys.trusted, record: enrs.trusted, pricePerMonth: 3 });
      await p2.addNode({ nodeKey: keys.otherProvider, record: enrs.otherProvider, pricePerMonth: 4 });
      await p1.addNode({ nodeKey: keys.inactive, record: enrs.inactive, pricePerMonth: 1 });
      await p1.setNodeActive(nodeIdFromPrivateKey(keys.inactive), false);
      await p1.addNode({ nodeKey: keys.removed, record: enrs.removed, pricePerMonth: 1 });
      await p1.removeNode(nodeIdFromPrivateKey(keys.removed));
      await curator.setKindEnabled("lightserver", true);
      await p1.addNode({ nodeKey: keys.kindOff, record: enrs.kindOff, pricePerMonth: 1, kind: "lightserver" });
      await curator.setKindEnabled("lightserver", false);
    });

    it("judges each node with typed reasons", async () => {
      const policy = new TrustPolicy({ customNodes: [enrs.custom] });
      const results = await verifyNodes(reader, [enrs.trusted, enrs.otherProvider, enrs.inactive, enrs.removed, enrs.kindOff, enrs.unregistered, enrs.custom, "enr:broken"], { policy });
      const [trusted, other, inactive, removed, kindOff, unregistered, custom, broken] = results;
      expect(trusted).to.deep.include({ nodeId: nodeIdFromPrivateKey(keys.trusted), status: "trusted", provider: deployer.address, pricePerMonth: 3n, record: enrs.trusted, enr: enrs.trusted, endpointMismatch: false });
      expect(trusted!.reasons).to.deep.equal([]);
      expect(other).to.deep.include({ status: "untrusted", provider: provider2.address });
      expect(other!.reasons).to.deep.equal(["provider-not-trusted"]);
      expect(inactive!.reasons).to.deep.equal(["inactive"]);
      expect(removed!.reasons).to.deep.equal(["removed"]);
      expect(kindOff!.reasons).to.deep.equal(["kind-disabled"]);
      expect(unregistered).to.deep.include({ status: "untrusted", provider: undefined, record: undefined });
      expect(unregistered!.reasons).to.deep.equal(["not-registered"]);
      expect(custom).to.deep.include({ status: "custom", enr: enrs.custom });
      expect(custom!.reasons).to.deep.equal(["not-registered"]);
      expect(broken).to.deep.include({ nodeId: undefined, status: "untrusted" });
      expect(broken!.reasons).to.deep.equal(["invalid-enr"]);

      expect(policy.customNodes().map((n) => n.enr)).to.deep.equal([enrs.custom]);
      expect(policy.customNode(nodeIdFromPrivateKey(keys.custom))?.enr).to.equal(enrs.custom);
      expect(policy.removeCustomNode(nodeIdFromPrivateKey(keys.custom))).to.equal(true);
      expect((await verifyNode(reader, enrs.custom, { policy })).status).to.equal("untrusted");
      expect(() => policy.addCustomNode("enr:broken")).to.throw(MailserverSdkError);

      // Trusting the second provider, by node id input this time.
      policy.trustProvider(provider2.address);
      expect(policy.trustedProviders()).to.deep.equal([provider2.address]);
      expect((await verifyNode(reader, nodeIdFromPrivateKey(keys.otherProvider), { policy })).status).to.equal("trusted");
      // Opting out of the default provider.
      policy.untrustProvider(deployer.address);
      const optedOut = await verifyNode(reader, enrs.trusted, { policy });
      expect(optedOut.status).to.equal("untrusted");
      expect(optedOut.reasons).to.deep.equal(["provider-not-trusted"]);
      expect((await verifyNode(reader, enrs.trusted, { kind: "lightserver" })).reasons).to.deep.equal(["wrong-kind"]);
    });

    it("flags a discovered ENR whose endpoint differs from the registered record", async () => {
      const moved = makeEnr(keys.trusted, "192.168.9.9", 30303, 2);
      const result = await verifyNode(reader, moved);
      expect(result).to.deep.include({ status: "trusted", endpointMismatch: true, enr: moved, record: enrs.trusted });
      // A provider suspended after the fact: the node becomes untrusted.
      await curator.suspendProvider(provider2.address, "audit");
      const suspended = await verifyNode(reader, enrs.otherProvider, { policy: new TrustPolicy({ providers: [provider2.address] }) });
      expect(suspended.reasons).to.deep.equal(["provider-not-approved"]);
      await curator.reinstateProvider(provider2.address);
    });

    it("costs a constant number of RPC calls whatever the list size", async () => {
      const counting = instrumentedProvider(connection.ethers.provider);
      const client = new RegistryClient({ runner: counting.proxy, addresses });
      await client.defaultProvider(); // chain check done once
      const many = Array.from({ length: 250 }, () => hexlify(randomBytes(32)));

      let before = counting.counter.calls;
      await verifyNodes(client, [enrs.trusted]);
      const one = counting.counter.calls - before;

      before = counting.counter.calls;
      const results = await verifyNodes(client, [...many, enrs.trusted, enrs.otherProvider], { chunkSize: 1000 });
      expect(counting.counter.calls - before).to.equal(one);
      expect(one).to.equal(2); // defaultProvider + one getNodeTrust
      expect(results).to.have.length(252);
      expect(results.at(-2)?.status).to.equal("trusted");

      before = counting.counter.calls;
      await verifyNodes(client, many); // default chunks of 100
      expect(counting.counter.calls - before).to.equal(1 + 3);
    });
  });
});
