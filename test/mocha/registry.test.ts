import { expect } from "chai";
import hre, { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { MailServerRegistry } from "../../sdk/src/typechain/MailServerRegistry.js";
import {
  MAILSERVER_KIND,
  malleateSignature,
  nodeAddressOf,
  nodeIdOfPublicKey,
  nodeKeyProofDigest,
  randomNodeKey,
  signNodeKeyProof,
  type NodeKey,
  publicKeyOf,
} from "../helpers/nodeKeys.js";

const { ethers, networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

const ProviderStatus = { None: 0n, Pending: 1n, Approved: 2n, Suspended: 3n, Removed: 4n } as const;
const NodeStatus = { None: 0n, Active: 1n, Inactive: 2n, Removed: 3n } as const;

const ADMIN_DELAY = 3n * 24n * 3600n;
const CURATOR_ROLE = ethers.id("CURATOR_ROLE");
const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;
const PUSH_KIND = ethers.id("push-notifications");
const RECORD = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
const PRICE = ethers.parseEther("5");
const MAX_UINT96 = (1n << 96n) - 1n;

type Signer = HardhatEthersSigner;

// ------------------------------------------------------------------------------------------------
// Fixtures and helpers
// ------------------------------------------------------------------------------------------------

async function deployFixture() {
  const [admin, curator, alice, bob, carol, stranger, payout, newAdmin] = await ethers.getSigners();
  const registry = (await ethers.deployContract("MailServerRegistry", [
    ADMIN_DELAY,
    admin.address,
  ])) as unknown as MailServerRegistry;
  await registry.connect(admin).grantRole(CURATOR_ROLE, curator.address);
  const chainId = (await ethers.provider.getNetwork()).chainId;
  const registryAddress = await registry.getAddress();
  return { registry, registryAddress, chainId, admin, curator, alice, bob, carol, stranger, payout, newAdmin };
}

type Fixture = Awaited<ReturnType<typeof deployFixture>>;

/** Mail-server kind enabled, alice approved (added by the curator), bob pending. */
async function readyFixture() {
  const f = await deployFixture();
  await f.registry.connect(f.curator).setKindEnabled(MAILSERVER_KIND, true);
  await f.registry.connect(f.curator).addProvider(f.alice.address, "Alice", "https://alice.example", f.payout.address);
  await f.registry.connect(f.bob).applyAsProvider("Bob", "", f.bob.address);
  return f;
}

/** readyFixture plus three mail-server nodes of alice. */
async function nodesFixture() {
  const f = await readyFixture();
  const keys: NodeKey[] = [];
  for (let i = 0; i < 3; i++) {
    const key = randomNodeKey();
    await addNode(f, f.alice, { key, price: PRICE + BigInt(i) });
    keys.push(key);
  }
  return { ...f, keys, ids: keys.map((k) => k.nodeId) };
}

interface NodeOptions {
  key?: NodeKey;
  kind?: string;
  record?: string;
  price?: bigint;
}

async function deadlineIn(seconds: number): Promise<bigint> {
  return BigInt(await time.latest()) + BigInt(seconds);
}

/** Everything `addNode` needs, with a valid proof by the node key for `provider`. */
async function nodeArgs(f: Fixture, provider: Signer, opts: NodeOptions = {}) {
  const key = opts.key ?? randomNodeKey();
  const kind = opts.kind ?? MAILSERVER_KIND;
  const deadline = await deadlineIn(3600);
  const proof = await signNodeKeyProof(key.wallet, {
    registry: f.registryAddress,
    chainId: f.chainId,
    provider: provider.address,
    kind,
    deadline,
  });
  return {
    key,
    nodeId: key.nodeId,
    publicKey: publicKeyOf(key.wallet),
    kind,
    record: opts.record ?? RECORD,
    price: opts.price ?? PRICE,
    deadline,
    proof,
  };
}

async function addNode(f: Fixture, provider: Signer, opts: NodeOptions = {}): Promise<string> {
  const a = await nodeArgs(f, provider, opts);
  await f.registry.connect(provider).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof);
  return a.nodeId;
}

/** What `ecrecover` yields for `signature` over the digest the registry computes for this call. */
function recoveredFor(f: Fixture, provider: string, nodeId: string, kind: string, deadline: bigint, signature: string) {
  const digest = nodeKeyProofDigest(nodeId, { registry: f.registryAddress, chainId: f.chainId, provider, kind, deadline });
  return ethers.recoverAddress(digest, signature);
}

async function listAll(f: Fixture, which: "kind" | "provider", key: string): Promise<string[]> {
  const [ids] =
    which === "kind" ? await f.registry.nodesByKind(key, 0, 1000) : await f.registry.nodesByProvider(key, 0, 1000);
  return [...ids];
}

/** Runs `action`, which must revert, and checks that the revision and `snapshot()` did not move. */
async function expectNoChange<T>(f: Fixture, snapshot: () => Promise<T>, action: () => Promise<unknown>) {
  const revisionBefore = await f.registry.revision();
  const before = await snapshot();
  await action();
  expect(await f.registry.revision()).to.equal(revisionBefore);
  expect(await snapshot()).to.deep.equal(before);
}

const sorted = (xs: readonly string[]) => [...xs].sort();

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

describe("MailServerRegistry", function () {
  describe("deployment", function () {
    it("sets the admin, the curator role, the delay and the constants", async function () {
      const { registry, admin } = await loadFixture(deployFixture);
      expect(await registry.defaultAdmin()).to.equal(admin.address);
      expect(await registry.owner()).to.equal(admin.address);
      expect(await registry.defaultAdminDelay()).to.equal(ADMIN_DELAY);
      expect(await registry.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).to.equal(true);
      expect(await registry.hasRole(CURATOR_ROLE, admin.address)).to.equal(true);
      expect(await registry.getRoleAdmin(CURATOR_ROLE)).to.equal(DEFAULT_ADMIN_ROLE);
      expect(await registry.CURATOR_ROLE()).to.equal(CURATOR_ROLE);
      expect(await registry.MAILSERVER_KIND()).to.equal(ethers.id("mailserver"));
      expect(await registry.MAX_RECORD_LENGTH()).to.equal(404n);
      expect(await registry.NODE_KEY_PROOF_TYPEHASH()).to.equal(
        ethers.id("NodeKeyProof(address provider,bytes32 nodeId,bytes32 kind,uint256 deadline)"),
      );
    });

    it("starts empty", async function () {
      const { registry } = await loadFixture(deployFixture);
      expect(await registry.revision()).to.equal(0n);
      expect(await registry.defaultProvider()).to.equal(ethers.ZeroAddress);
      expect(await registry.isKindEnabled(MAILSERVER_KIND)).to.equal(false);
      const [accounts, total] = await registry.providers(0, 10);
      expect(accounts).to.deep.equal([]);
      expect(total).to.equal(0n);
    });

    it("exposes the EIP-712 domain", async function () {
      const { registry, registryAddress, chainId } = await loadFixture(deployFixture);
      const domain = await registry.eip712Domain();
      expect(domain.name).to.equal("MailServerRegistry");
      expect(domain.version).to.equal("1");
      expect(domain.chainId).to.equal(chainId);
      expect(domain.verifyingContract).to.equal(registryAddress);
    });

    it("supports ERC-165 for its interfaces", async function () {
      const { registry } = await loadFixture(deployFixture);
      const artifact = await hre.artifacts.readArtifact("IMailServerRegistry");
      const inherited = new Set(["hasRole", "getRoleAdmin", "grantRole", "revokeRole", "renounceRole"]);
      let id = 0n;
      new ethers.Interface(artifact.abi).forEachFunction((fn) => {
        if (!inherited.has(fn.name)) id ^= BigInt(fn.selector);
      });
      expect(await registry.supportsInterface(ethers.toBeHex(id, 4))).to.equal(true);
      expect(await registry.supportsInterface("0x01ffc9a7")).to.equal(true); // IERC165
      expect(await registry.supportsInterface("0x7965db0b")).to.equal(true); // IAccessControl
      expect(await registry.supportsInterface("0x31498786")).to.equal(true); // IAccessControlDefaultAdminRules
      expect(await registry.supportsInterface("0xffffffff")).to.equal(false);
    });

    it("rejects a zero admin", async function () {
      const { registry } = await loadFixture(deployFixture);
      await expect(ethers.deployContract("MailServerRegistry", [ADMIN_DELAY, ethers.ZeroAddress]))
        .to.be.revertedWithCustomError(registry, "AccessControlInvalidDefaultAdmin")
        .withArgs(ethers.ZeroAddress);
    });
  });

  describe("admin and roles", function () {
    it("transfers the admin role in two steps after the delay", async function () {
      const { registry, admin, newAdmin, stranger } = await loadFixture(deployFixture);
      await expect(registry.connect(stranger).beginDefaultAdminTransfer(newAdmin.address))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, DEFAULT_ADMIN_ROLE);

      await registry.connect(admin).beginDefaultAdminTransfer(newAdmin.address);
      const [pending, schedule] = await registry.pendingDefaultAdmin();
      expect(pending).to.equal(newAdmin.address);
      expect(schedule).to.equal(BigInt(await time.latest()) + ADMIN_DELAY);

      await expect(registry.connect(newAdmin).acceptDefaultAdminTransfer())
        .to.be.revertedWithCustomError(registry, "AccessControlEnforcedDefaultAdminDelay")
        .withArgs(schedule);
      await expect(registry.connect(stranger).acceptDefaultAdminTransfer())
        .to.be.revertedWithCustomError(registry, "AccessControlInvalidDefaultAdmin")
        .withArgs(stranger.address);

      await time.increaseTo(schedule + 1n);
      await registry.connect(newAdmin).acceptDefaultAdminTransfer();
      expect(await registry.defaultAdmin()).to.equal(newAdmin.address);
      expect(await registry.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).to.equal(false);

      // The new admin manages curators; the old one no longer can.
      await registry.connect(newAdmin).grantRole(CURATOR_ROLE, newAdmin.address);
      expect(await registry.hasRole(CURATOR_ROLE, newAdmin.address)).to.equal(true);
      await expect(registry.connect(admin).grantRole(CURATOR_ROLE, stranger.address))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(admin.address, DEFAULT_ADMIN_ROLE);
    });

    it("lets the admin cancel a pending transfer", async function () {
      const { registry, admin, newAdmin } = await loadFixture(deployFixture);
      await registry.connect(admin).beginDefaultAdminTransfer(newAdmin.address);
      await registry.connect(admin).cancelDefaultAdminTransfer();
      await time.increase(ADMIN_DELAY + 1n);
      await expect(registry.connect(newAdmin).acceptDefaultAdminTransfer())
        .to.be.revertedWithCustomError(registry, "AccessControlInvalidDefaultAdmin")
        .withArgs(newAdmin.address);
      expect(await registry.defaultAdmin()).to.equal(admin.address);
    });

    it("refuses a direct grant of the admin role", async function () {
      const { registry, admin, newAdmin } = await loadFixture(deployFixture);
      await expect(
        registry.connect(admin).grantRole(DEFAULT_ADMIN_ROLE, newAdmin.address),
      ).to.be.revertedWithCustomError(registry, "AccessControlEnforcedDefaultAdminRules");
    });

    it("lets only the admin grant and revoke curators", async function () {
      const { registry, admin, curator, stranger } = await loadFixture(deployFixture);
      await expect(registry.connect(curator).grantRole(CURATOR_ROLE, stranger.address))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(curator.address, DEFAULT_ADMIN_ROLE);
      await registry.connect(admin).grantRole(CURATOR_ROLE, stranger.address);
      await registry.connect(stranger).setKindEnabled(PUSH_KIND, true);
      await registry.connect(admin).revokeRole(CURATOR_ROLE, stranger.address);
      await expect(registry.connect(stranger).setKindEnabled(PUSH_KIND, false))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, CURATOR_ROLE);
    });

    it("does not count role changes as registry revisions", async function () {
      const { registry, admin, stranger } = await loadFixture(deployFixture);
      await registry.connect(admin).grantRole(CURATOR_ROLE, stranger.address);
      expect(await registry.revision()).to.equal(0n);
    });
  });

  describe("applyAsProvider", function () {
    it("records a pending application", async function () {
      const f = await loadFixture(deployFixture);
      const { registry, alice, payout } = f;
      await expect(registry.connect(alice).applyAsProvider("Alice", "ipfs://meta", payout.address))
        .to.emit(registry, "ProviderApplied")
        .withArgs(alice.address, payout.address, "Alice", "ipfs://meta");
      const p = await registry.getProvider(alice.address);
      expect(p.status).to.equal(ProviderStatus.Pending);
      expect(p.payout).to.equal(payout.address);
      expect(p.name).to.equal("Alice");
      expect(p.metadataURI).to.equal("ipfs://meta");
      expect(p.appliedAt).to.equal(BigInt(await time.latest()));
      expect(p.removedAt).to.equal(0n);
      expect(p.nodeCount).to.equal(0n);
      expect(await registry.revision()).to.equal(1n);
      const [accounts, total] = await registry.providers(0, 10);
      expect(accounts).to.deep.equal([alice.address]);
      expect(total).to.equal(1n);
    });

    it("accepts the longest name and metadata URI and an empty URI", async function () {
      const { registry, alice, bob } = await loadFixture(deployFixture);
      await registry.connect(alice).applyAsProvider("n".repeat(64), "u".repeat(256), alice.address);
      await registry.connect(bob).applyAsProvider("b", "", bob.address);
      expect((await registry.getProvider(alice.address)).name).to.equal("n".repeat(64));
      expect((await registry.getProvider(bob.address)).metadataURI).to.equal("");
    });

    it("rejects bad input and changes nothing", async function () {
      const f = await loadFixture(deployFixture);
      const { registry, alice } = f;
      const snapshot = async () => [await registry.getProvider(alice.address), await registry.providers(0, 10)];
      await expectNoChange(f, snapshot, async () => {
        await expect(registry.connect(alice).applyAsProvider("", "", alice.address)).to.be.revertedWithCustomError(
          registry,
          "EmptyName",
        );
        await expect(registry.connect(alice).applyAsProvider("n".repeat(65), "", alice.address))
          .to.be.revertedWithCustomError(registry, "NameTooLong")
          .withArgs(65, 64);
        await expect(registry.connect(alice).applyAsProvider("Alice", "u".repeat(257), alice.address))
          .to.be.revertedWithCustomError(registry, "MetadataURITooLong")
          .withArgs(257, 256);
        await expect(
          registry.connect(alice).applyAsProvider("Alice", "", ethers.ZeroAddress),
        ).to.be.revertedWithCustomError(registry, "ZeroAddress");
      });
    });

    it("only works for an account with no record", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, curator, alice, bob, carol } = f;
      await expect(registry.connect(bob).applyAsProvider("Bob", "", bob.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(bob.address, ProviderStatus.Pending);
      await expect(registry.connect(alice).applyAsProvider("Alice", "", alice.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(alice.address, ProviderStatus.Approved);
      await registry.connect(curator).suspendProvider(alice.address, "");
      await expect(registry.connect(alice).applyAsProvider("Alice", "", alice.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(alice.address, ProviderStatus.Suspended);
      // Removal is terminal.
      await registry.connect(carol).applyAsProvider("Carol", "", carol.address);
      await registry.connect(curator).removeProvider(carol.address, "rejected");
      await expect(registry.connect(carol).applyAsProvider("Carol", "", carol.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(carol.address, ProviderStatus.Removed);
    });
  });

  describe("addProvider", function () {
    it("adds a new approved provider", async function () {
      const { registry, curator, alice, payout } = await loadFixture(deployFixture);
      await expect(registry.connect(curator).addProvider(alice.address, "Alice", "https://a", payout.address))
        .to.emit(registry, "ProviderAdded")
        .withArgs(alice.address, curator.address, payout.address, "Alice", "https://a");
      const p = await registry.getProvider(alice.address);
      expect(p.status).to.equal(ProviderStatus.Approved);
      expect(p.payout).to.equal(payout.address);
      expect(p.appliedAt).to.equal(BigInt(await time.latest()));
      expect(await registry.revision()).to.equal(1n);
      expect((await registry.providers(0, 10))[0]).to.deep.equal([alice.address]);
    });

    it("approves a pending application with the curator's details, listing it once", async function () {
      const { registry, curator, bob, payout } = await loadFixture(readyFixture);
      const appliedAt = (await registry.getProvider(bob.address)).appliedAt;
      await time.increase(100);
      await expect(registry.connect(curator).addProvider(bob.address, "Bob Ltd", "https://bob", payout.address))
        .to.emit(registry, "ProviderAdded")
        .withArgs(bob.address, curator.address, payout.address, "Bob Ltd", "https://bob");
      const p = await registry.getProvider(bob.address);
      expect(p.status).to.equal(ProviderStatus.Approved);
      expect(p.name).to.equal("Bob Ltd");
      expect(p.metadataURI).to.equal("https://bob");
      expect(p.payout).to.equal(payout.address);
      expect(p.appliedAt).to.equal(appliedAt);
      const [, total] = await registry.providers(0, 10);
      expect(total).to.equal(2n);
    });

    it("is curator-only", async function () {
      const { registry, stranger, carol } = await loadFixture(readyFixture);
      await expect(registry.connect(stranger).addProvider(carol.address, "Carol", "", carol.address))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, CURATOR_ROLE);
    });

    it("rejects bad input", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, curator, carol } = f;
      await expectNoChange(f, () => registry.getProvider(carol.address), async () => {
        await expect(
          registry.connect(curator).addProvider(ethers.ZeroAddress, "Zero", "", carol.address),
        ).to.be.revertedWithCustomError(registry, "ZeroAddress");
        await expect(
          registry.connect(curator).addProvider(carol.address, "Carol", "", ethers.ZeroAddress),
        ).to.be.revertedWithCustomError(registry, "ZeroAddress");
        await expect(
          registry.connect(curator).addProvider(carol.address, "", "", carol.address),
        ).to.be.revertedWithCustomError(registry, "EmptyName");
        await expect(registry.connect(curator).addProvider(carol.address, "c".repeat(65), "", carol.address))
          .to.be.revertedWithCustomError(registry, "NameTooLong")
          .withArgs(65, 64);
        await expect(registry.connect(curator).addProvider(carol.address, "Carol", "u".repeat(257), carol.address))
          .to.be.revertedWithCustomError(registry, "MetadataURITooLong")
          .withArgs(257, 256);
      });
    });

    it("refuses approved, suspended and removed providers", async function () {
      const { registry, curator, alice, bob } = await loadFixture(readyFixture);
      await expect(registry.connect(curator).addProvider(alice.address, "A", "", alice.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(alice.address, ProviderStatus.Approved);
      await registry.connect(curator).suspendProvider(alice.address, "");
      await expect(registry.connect(curator).addProvider(alice.address, "A", "", alice.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(alice.address, ProviderStatus.Suspended);
      await registry.connect(curator).removeProvider(bob.address, "");
      await expect(registry.connect(curator).addProvider(bob.address, "B", "", bob.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(bob.address, ProviderStatus.Removed);
    });
  });

  describe("provider lifecycle", function () {
    it("approves a pending provider", async function () {
      const { registry, curator, bob } = await loadFixture(readyFixture);
      const revision = await registry.revision();
      await expect(registry.connect(curator).approveProvider(bob.address))
        .to.emit(registry, "ProviderApproved")
        .withArgs(bob.address, curator.address);
      expect((await registry.getProvider(bob.address)).status).to.equal(ProviderStatus.Approved);
      expect(await registry.revision()).to.equal(revision + 1n);
    });

    it("suspends and reinstates an approved provider", async function () {
      const { registry, curator, alice } = await loadFixture(readyFixture);
      await expect(registry.connect(curator).suspendProvider(alice.address, "downtime"))
        .to.emit(registry, "ProviderSuspended")
        .withArgs(alice.address, curator.address, "downtime");
      expect((await registry.getProvider(alice.address)).status).to.equal(ProviderStatus.Suspended);
      await expect(registry.connect(curator).reinstateProvider(alice.address))
        .to.emit(registry, "ProviderReinstated")
        .withArgs(alice.address, curator.address);
      expect((await registry.getProvider(alice.address)).status).to.equal(ProviderStatus.Approved);
    });

    for (const from of ["Pending", "Approved", "Suspended"] as const) {
      it(`removes a ${from.toLowerCase()} provider for good`, async function () {
        const { registry, curator, alice, bob } = await loadFixture(readyFixture);
        const who = from === "Pending" ? bob : alice;
        if (from === "Suspended") await registry.connect(curator).suspendProvider(who.address, "");
        const revision = await registry.revision();
        await expect(registry.connect(curator).removeProvider(who.address, "gone"))
          .to.emit(registry, "ProviderRemoved")
          .withArgs(who.address, curator.address, "gone");
        const p = await registry.getProvider(who.address);
        expect(p.status).to.equal(ProviderStatus.Removed);
        expect(p.removedAt).to.equal(BigInt(await time.latest()));
        expect(await registry.revision()).to.equal(revision + 1n);
        for (const action of [
          registry.connect(curator).approveProvider(who.address),
          registry.connect(curator).suspendProvider(who.address, ""),
          registry.connect(curator).reinstateProvider(who.address),
          registry.connect(curator).removeProvider(who.address, ""),
        ]) {
          await expect(action)
            .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
            .withArgs(who.address, ProviderStatus.Removed);
        }
      });
    }

    it("rejects transitions from the wrong status", async function () {
      const { registry, curator, alice, bob, stranger } = await loadFixture(readyFixture);
      const cases: [Promise<unknown>, string, bigint][] = [
        [registry.connect(curator).approveProvider(alice.address), alice.address, ProviderStatus.Approved],
        [registry.connect(curator).approveProvider(stranger.address), stranger.address, ProviderStatus.None],
        [registry.connect(curator).suspendProvider(bob.address, ""), bob.address, ProviderStatus.Pending],
        [registry.connect(curator).suspendProvider(stranger.address, ""), stranger.address, ProviderStatus.None],
        [registry.connect(curator).reinstateProvider(alice.address), alice.address, ProviderStatus.Approved],
        [registry.connect(curator).reinstateProvider(bob.address), bob.address, ProviderStatus.Pending],
        [registry.connect(curator).removeProvider(stranger.address, ""), stranger.address, ProviderStatus.None],
      ];
      for (const [action, who, status] of cases) {
        await expect(action).to.be.revertedWithCustomError(registry, "InvalidProviderStatus").withArgs(who, status);
      }
      await registry.connect(curator).suspendProvider(alice.address, "");
      await expect(registry.connect(curator).approveProvider(alice.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(alice.address, ProviderStatus.Suspended);
      await expect(registry.connect(curator).suspendProvider(alice.address, ""))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(alice.address, ProviderStatus.Suspended);
      expect(await registry.revision()).to.equal(4n); // kind, alice, bob, suspension
    });

    it("is curator-only", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, alice, bob } = f;
      await expectNoChange(f, () => Promise.all([registry.getProvider(alice.address), registry.getProvider(bob.address)]), async () => {
        for (const [who, action] of [
          [bob, registry.connect(bob).approveProvider(bob.address)],
          [bob, registry.connect(bob).suspendProvider(alice.address, "")],
          [bob, registry.connect(bob).reinstateProvider(alice.address)],
          [bob, registry.connect(bob).removeProvider(alice.address, "")],
          [alice, registry.connect(alice).removeProvider(bob.address, "")],
          [alice, registry.connect(alice).setDefaultProvider(alice.address)],
        ] as const) {
          await expect(action)
            .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
            .withArgs(who.address, CURATOR_ROLE);
        }
      });
    });
  });

  describe("default provider", function () {
    it("is set by a curator to an approved provider", async function () {
      const { registry, curator, alice } = await loadFixture(readyFixture);
      const revision = await registry.revision();
      await expect(registry.connect(curator).setDefaultProvider(alice.address))
        .to.emit(registry, "DefaultProviderChanged")
        .withArgs(alice.address);
      expect(await registry.defaultProvider()).to.equal(alice.address);
      expect(await registry.revision()).to.equal(revision + 1n);
    });

    it("must be approved", async function () {
      const { registry, curator, alice, bob } = await loadFixture(readyFixture);
      await expect(registry.connect(curator).setDefaultProvider(bob.address))
        .to.be.revertedWithCustomError(registry, "ProviderNotApproved")
        .withArgs(bob.address, ProviderStatus.Pending);
      await expect(registry.connect(curator).setDefaultProvider(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(registry, "ProviderNotApproved")
        .withArgs(ethers.ZeroAddress, ProviderStatus.None);
      await registry.connect(curator).suspendProvider(alice.address, "");
      await expect(registry.connect(curator).setDefaultProvider(alice.address))
        .to.be.revertedWithCustomError(registry, "ProviderNotApproved")
        .withArgs(alice.address, ProviderStatus.Suspended);
    });

    it("stays through a suspension and is cleared by a removal", async function () {
      const { registry, curator, alice } = await loadFixture(readyFixture);
      await registry.connect(curator).setDefaultProvider(alice.address);
      await registry.connect(curator).suspendProvider(alice.address, "");
      expect(await registry.defaultProvider()).to.equal(alice.address);
      const revision = await registry.revision();
      await expect(registry.connect(curator).removeProvider(alice.address, "gone"))
        .to.emit(registry, "DefaultProviderChanged")
        .withArgs(ethers.ZeroAddress)
        .and.to.emit(registry, "ProviderRemoved");
      expect(await registry.defaultProvider()).to.equal(ethers.ZeroAddress);
      expect(await registry.revision()).to.equal(revision + 1n);
    });

    it("is not touched by removing another provider", async function () {
      const { registry, curator, alice, bob } = await loadFixture(readyFixture);
      await registry.connect(curator).setDefaultProvider(alice.address);
      await expect(registry.connect(curator).removeProvider(bob.address, "")).not.to.emit(
        registry,
        "DefaultProviderChanged",
      );
      expect(await registry.defaultProvider()).to.equal(alice.address);
    });
  });

  describe("setPayout and setProviderMetadata", function () {
    it("let a pending, approved or suspended provider manage itself", async function () {
      const { registry, curator, alice, bob, carol } = await loadFixture(readyFixture);
      await registry.connect(curator).suspendProvider(alice.address, "");
      await registry.connect(carol).applyAsProvider("Carol", "", carol.address);
      await registry.connect(curator).approveProvider(carol.address);
      for (const who of [alice, bob, carol]) {
        const revision = await registry.revision();
        await expect(registry.connect(who).setPayout(carol.address))
          .to.emit(registry, "ProviderPayoutChanged")
          .withArgs(who.address, carol.address);
        await expect(registry.connect(who).setProviderMetadata("New name", "ipfs://new"))
          .to.emit(registry, "ProviderMetadataChanged")
          .withArgs(who.address, "New name", "ipfs://new");
        const p = await registry.getProvider(who.address);
        expect(p.payout).to.equal(carol.address);
        expect(p.name).to.equal("New name");
        expect(p.metadataURI).to.equal("ipfs://new");
        expect(await registry.revision()).to.equal(revision + 2n);
      }
    });

    it("reject bad input and change nothing", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, alice } = f;
      await expectNoChange(f, () => registry.getProvider(alice.address), async () => {
        await expect(registry.connect(alice).setPayout(ethers.ZeroAddress)).to.be.revertedWithCustomError(
          registry,
          "ZeroAddress",
        );
        await expect(registry.connect(alice).setProviderMetadata("", "")).to.be.revertedWithCustomError(
          registry,
          "EmptyName",
        );
        await expect(registry.connect(alice).setProviderMetadata("n".repeat(65), ""))
          .to.be.revertedWithCustomError(registry, "NameTooLong")
          .withArgs(65, 64);
        await expect(registry.connect(alice).setProviderMetadata("Alice", "u".repeat(257)))
          .to.be.revertedWithCustomError(registry, "MetadataURITooLong")
          .withArgs(257, 256);
      });
    });

    it("refuse unknown and removed providers", async function () {
      const { registry, curator, alice, stranger } = await loadFixture(readyFixture);
      await expect(registry.connect(stranger).setPayout(stranger.address))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(stranger.address, ProviderStatus.None);
      await expect(registry.connect(stranger).setProviderMetadata("S", ""))
        .to.be.revertedWithCustomError(registry, "InvalidProviderStatus")
        .withArgs(stranger.address, ProviderStatus.None);
      await registry.connect(curator).removeProvider(alice.address, "");
      await expect(registry.connect(alice).setPayout(alice.address))
        .to.be.revertedWithCustomError(registry, "ProviderIsRemoved")
        .withArgs(alice.address);
      await expect(registry.connect(alice).setProviderMetadata("A", ""))
        .to.be.revertedWithCustomError(registry, "ProviderIsRemoved")
        .withArgs(alice.address);
    });
  });

  describe("kinds", function () {
    it("are enabled and disabled by a curator", async function () {
      const { registry, curator } = await loadFixture(deployFixture);
      await expect(registry.connect(curator).setKindEnabled(PUSH_KIND, true))
        .to.emit(registry, "KindEnabledChanged")
        .withArgs(PUSH_KIND, true);
      expect(await registry.isKindEnabled(PUSH_KIND)).to.equal(true);
      expect(await registry.revision()).to.equal(1n);
      await expect(registry.connect(curator).setKindEnabled(PUSH_KIND, false))
        .to.emit(registry, "KindEnabledChanged")
        .withArgs(PUSH_KIND, false);
      expect(await registry.isKindEnabled(PUSH_KIND)).to.equal(false);
      expect(await registry.revision()).to.equal(2n);
    });

    it("reject no-ops, the zero kind and non-curators", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, curator, stranger } = f;
      await expectNoChange(f, () => registry.isKindEnabled(MAILSERVER_KIND), async () => {
        await expect(registry.connect(curator).setKindEnabled(MAILSERVER_KIND, true))
          .to.be.revertedWithCustomError(registry, "KindAlreadyInState")
          .withArgs(MAILSERVER_KIND, true);
        await expect(registry.connect(curator).setKindEnabled(PUSH_KIND, false))
          .to.be.revertedWithCustomError(registry, "KindAlreadyInState")
          .withArgs(PUSH_KIND, false);
        await expect(registry.connect(curator).setKindEnabled(ethers.ZeroHash, true)).to.be.revertedWithCustomError(
          registry,
          "ZeroKind",
        );
        await expect(registry.connect(stranger).setKindEnabled(MAILSERVER_KIND, false))
          .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
          .withArgs(stranger.address, CURATOR_ROLE);
      });
    });
  });

  describe("node keys (helpers)", function () {
    it("derive the ENR node id and its address from the public key", async function () {
      const key = randomNodeKey();
      const uncompressed = key.wallet.signingKey.publicKey;
      expect(ethers.dataLength(uncompressed)).to.equal(65);
      expect(key.nodeId).to.equal(ethers.keccak256(ethers.dataSlice(uncompressed, 1)));
      expect(nodeIdOfPublicKey(key.wallet.signingKey.compressedPublicKey)).to.equal(key.nodeId);
      // The Ethereum address of the key is the node id's last 20 bytes.
      expect(nodeAddressOf(key.nodeId)).to.equal(key.wallet.address);
    });

    it("compute the same digest as the registry", async function () {
      const f = await loadFixture(readyFixture);
      const key = randomNodeKey();
      const deadline = 1234567n;
      expect(await f.registry.nodeKeyProofDigest(f.alice.address, key.nodeId, MAILSERVER_KIND, deadline)).to.equal(
        nodeKeyProofDigest(key.nodeId, {
          registry: f.registryAddress,
          chainId: f.chainId,
          provider: f.alice.address,
          kind: MAILSERVER_KIND,
          deadline,
        }),
      );
    });
  });

  describe("addNode", function () {
    it("registers a node with a valid node-key proof", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, alice } = f;
      const a = await nodeArgs(f, alice, { price: 7n });
      const revision = await registry.revision();
      await expect(registry.connect(alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof))
        .to.emit(registry, "NodeAdded")
        .withArgs(a.nodeId, alice.address, MAILSERVER_KIND, 7n, RECORD);
      const node = await registry.getNode(a.nodeId);
      expect(node.provider).to.equal(alice.address);
      expect(node.pricePerMonth).to.equal(7n);
      expect(node.kind).to.equal(MAILSERVER_KIND);
      expect(node.status).to.equal(NodeStatus.Active);
      expect(node.registeredAt).to.equal(BigInt(await time.latest()));
      expect(node.removedAt).to.equal(0n);
      expect(node.record).to.equal(RECORD);
      expect(await registry.isTrusted(a.nodeId)).to.equal(true);
      expect(await registry.revision()).to.equal(revision + 1n);
      expect(await listAll(f, "kind", MAILSERVER_KIND)).to.deep.equal([a.nodeId]);
      expect(await listAll(f, "provider", alice.address)).to.deep.equal([a.nodeId]);
      expect((await registry.getProvider(alice.address)).nodeCount).to.equal(1n);
    });

    it("accepts the longest record, a free node, the highest price and a deadline of now", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, alice } = f;
      const a = await nodeArgs(f, alice, { record: "r".repeat(300), price: 0n });
      await registry.connect(alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof);
      expect((await registry.getNode(a.nodeId)).record).to.equal("r".repeat(300));

      const b = await nodeArgs(f, alice, { price: MAX_UINT96 });
      await time.setNextBlockTimestamp(b.deadline);
      await registry.connect(alice).addNode(b.publicKey, b.kind, b.record, b.price, b.deadline, b.proof);
      expect((await registry.getNode(b.nodeId)).pricePerMonth).to.equal(MAX_UINT96);
    });

    it("registers nodes of other enabled kinds", async function () {
      const f = await loadFixture(readyFixture);
      await f.registry.connect(f.curator).setKindEnabled(PUSH_KIND, true);
      const id = await addNode(f, f.alice, { kind: PUSH_KIND });
      expect(await listAll(f, "kind", PUSH_KIND)).to.deep.equal([id]);
      expect(await listAll(f, "kind", MAILSERVER_KIND)).to.deep.equal([]);
    });

    it("rejects bad input and changes nothing", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, alice } = f;
      const a = await nodeArgs(f, alice);
      const z = await nodeArgs(f, alice, { kind: ethers.ZeroHash });
      const p = await nodeArgs(f, alice, { kind: PUSH_KIND });
      const snapshot = async () => [
        await registry.getNode(a.nodeId),
        await listAll(f, "kind", MAILSERVER_KIND),
        await listAll(f, "provider", alice.address),
      ];
      await expectNoChange(f, snapshot, async () => {
        await expect(registry.connect(alice).addNode(a.publicKey, a.kind, "", a.price, a.deadline, a.proof)).to.be
          .revertedWithCustomError(registry, "EmptyRecord");
        await expect(registry.connect(alice).addNode(a.publicKey, a.kind, "r".repeat(405), a.price, a.deadline, a.proof))
          .to.be.revertedWithCustomError(registry, "RecordTooLong")
          .withArgs(405, 404);
        await expect(registry.connect(alice).addNode(z.publicKey, z.kind, z.record, z.price, z.deadline, z.proof)).to.be
          .revertedWithCustomError(registry, "ZeroKind");
        await expect(registry.connect(alice).addNode(p.publicKey, p.kind, p.record, p.price, p.deadline, p.proof))
          .to.be.revertedWithCustomError(registry, "KindNotEnabled")
          .withArgs(PUSH_KIND);
        await expect(
          registry.connect(alice).addNode(ethers.dataSlice(a.publicKey, 1), a.kind, a.record, a.price, a.deadline, a.proof),
        )
          .to.be.revertedWithCustomError(registry, "InvalidPublicKeyLength")
          .withArgs(63);
      });
    });

    it("rejects a node of a disabled kind", async function () {
      const f = await loadFixture(readyFixture);
      await f.registry.connect(f.curator).setKindEnabled(MAILSERVER_KIND, false);
      const a = await nodeArgs(f, f.alice);
      await expect(f.registry.connect(f.alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof))
        .to.be.revertedWithCustomError(f.registry, "KindNotEnabled")
        .withArgs(MAILSERVER_KIND);
    });

    it("requires an approved provider", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, curator, alice, bob, stranger } = f;
      const tryAdd = async (who: Signer) => {
        const a = await nodeArgs(f, who);
        return registry.connect(who).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof);
      };
      await expect(tryAdd(stranger))
        .to.be.revertedWithCustomError(registry, "ProviderNotApproved")
        .withArgs(stranger.address, ProviderStatus.None);
      await expect(tryAdd(bob))
        .to.be.revertedWithCustomError(registry, "ProviderNotApproved")
        .withArgs(bob.address, ProviderStatus.Pending);
      await registry.connect(curator).suspendProvider(alice.address, "");
      await expect(tryAdd(alice))
        .to.be.revertedWithCustomError(registry, "ProviderNotApproved")
        .withArgs(alice.address, ProviderStatus.Suspended);
      await registry.connect(curator).removeProvider(alice.address, "");
      await expect(tryAdd(alice))
        .to.be.revertedWithCustomError(registry, "ProviderNotApproved")
        .withArgs(alice.address, ProviderStatus.Removed);
    });

    it("registers a node id only once, even after removal and for another provider", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, curator, alice, bob } = f;
      await registry.connect(curator).approveProvider(bob.address);
      const key = randomNodeKey();
      await addNode(f, alice, { key });
      const again = await nodeArgs(f, alice, { key });
      await expect(
        registry.connect(alice).addNode(again.publicKey, again.kind, again.record, again.price, again.deadline, again.proof),
      )
        .to.be.revertedWithCustomError(registry, "NodeAlreadyRegistered")
        .withArgs(key.nodeId);
      await registry.connect(alice).removeNode(key.nodeId);
      for (const who of [alice, bob]) {
        const a = await nodeArgs(f, who, { key });
        await expect(registry.connect(who).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof))
          .to.be.revertedWithCustomError(registry, "NodeAlreadyRegistered")
          .withArgs(key.nodeId);
      }
    });

    it("rejects an expired proof", async function () {
      const f = await loadFixture(readyFixture);
      const a = await nodeArgs(f, f.alice);
      await time.setNextBlockTimestamp(a.deadline + 1n);
      await expect(f.registry.connect(f.alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof))
        .to.be.revertedWithCustomError(f.registry, "ProofExpired")
        .withArgs(a.deadline, a.deadline + 1n);
    });

    describe("rejects a proof that does not bind this registration", function () {
      it("signed by another key", async function () {
        const f = await loadFixture(readyFixture);
        const a = await nodeArgs(f, f.alice);
        const other = randomNodeKey();
        const proof = await signNodeKeyProof(other.wallet, {
          registry: f.registryAddress,
          chainId: f.chainId,
          provider: f.alice.address,
          kind: a.kind,
          deadline: a.deadline,
          nodeId: a.nodeId,
        });
        await expect(f.registry.connect(f.alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, proof))
          .to.be.revertedWithCustomError(f.registry, "InvalidNodeKeyProof")
          .withArgs(a.nodeId, other.wallet.address);
      });

      it("signed for another provider", async function () {
        const f = await loadFixture(readyFixture);
        const { registry, curator, alice, bob } = f;
        await registry.connect(curator).approveProvider(bob.address);
        const a = await nodeArgs(f, alice); // proof names alice
        const recovered = recoveredFor(f, bob.address, a.nodeId, a.kind, a.deadline, a.proof);
        expect(recovered).not.to.equal(a.key.wallet.address);
        await expect(registry.connect(bob).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof))
          .to.be.revertedWithCustomError(registry, "InvalidNodeKeyProof")
          .withArgs(a.nodeId, recovered);
      });

      it("signed for another chain or another registry", async function () {
        const f = await loadFixture(readyFixture);
        const key = randomNodeKey();
        const deadline = await deadlineIn(3600);
        for (const [registry, chainId] of [
          [f.registryAddress, f.chainId + 1n],
          [ethers.Wallet.createRandom().address, f.chainId],
        ] as const) {
          const proof = await signNodeKeyProof(key.wallet, {
            registry,
            chainId,
            provider: f.alice.address,
            kind: MAILSERVER_KIND,
            deadline,
          });
          await expect(f.registry.connect(f.alice).addNode(publicKeyOf(key.wallet), MAILSERVER_KIND, RECORD, 0n, deadline, proof))
            .to.be.revertedWithCustomError(f.registry, "InvalidNodeKeyProof")
            .withArgs(key.nodeId, recoveredFor(f, f.alice.address, key.nodeId, MAILSERVER_KIND, deadline, proof));
        }
      });

      it("signed for another kind, node id or deadline", async function () {
        const f = await loadFixture(readyFixture);
        const { registry, curator, alice } = f;
        await registry.connect(curator).setKindEnabled(PUSH_KIND, true);
        const a = await nodeArgs(f, alice, { kind: PUSH_KIND });
        await expect(registry.connect(alice).addNode(a.publicKey, MAILSERVER_KIND, a.record, a.price, a.deadline, a.proof))
          .to.be.revertedWithCustomError(registry, "InvalidNodeKeyProof")
          .withArgs(a.nodeId, recoveredFor(f, alice.address, a.nodeId, MAILSERVER_KIND, a.deadline, a.proof));
        await expect(registry.connect(alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline + 1n, a.proof))
          .to.be.revertedWithCustomError(registry, "InvalidNodeKeyProof")
          .withArgs(a.nodeId, recoveredFor(f, alice.address, a.nodeId, a.kind, a.deadline + 1n, a.proof));
        // Same key address in the last 20 bytes, different upper bytes: an id no ENR has. The
        // registry computes the id from the public key, so a proof for it does not register.
        const otherId = ethers.concat(["0x" + "ab".repeat(12), a.key.wallet.address]);
        const squat = await signNodeKeyProof(a.key.wallet, {
          registry: f.registryAddress,
          chainId: f.chainId,
          provider: alice.address,
          kind: a.kind,
          deadline: a.deadline,
          nodeId: otherId,
        });
        await expect(registry.connect(alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, squat))
          .to.be.revertedWithCustomError(registry, "InvalidNodeKeyProof")
          .withArgs(a.nodeId, recoveredFor(f, alice.address, a.nodeId, a.kind, a.deadline, squat));
      });

      it("malleable (high-s) or malformed", async function () {
        const f = await loadFixture(readyFixture);
        const a = await nodeArgs(f, f.alice);
        const highS = malleateSignature(a.proof);
        // The twin recovers to the same key through raw ecrecover, but the registry refuses it.
        const digest = await f.registry.nodeKeyProofDigest(f.alice.address, a.nodeId, a.kind, a.deadline);
        const sig = ethers.Signature.from(a.proof);
        expect(ethers.recoverAddress(digest, sig)).to.equal(a.key.wallet.address);
        for (const proof of [highS, ethers.dataSlice(a.proof, 0, 64), "0x", ethers.concat([a.proof, "0x00"])]) {
          await expect(f.registry.connect(f.alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, proof))
            .to.be.revertedWithCustomError(f.registry, "InvalidNodeKeyProof")
            .withArgs(a.nodeId, ethers.ZeroAddress);
        }
        // The genuine proof still works afterwards.
        await f.registry.connect(f.alice).addNode(a.publicKey, a.kind, a.record, a.price, a.deadline, a.proof);
      });
    });
  });

  describe("node management", function () {
    it("updates a node's record", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, alice, ids } = f;
      const revision = await registry.revision();
      await expect(registry.connect(alice).updateNodeRecord(ids[0], "/dns4/a.example/tcp/30303"))
        .to.emit(registry, "NodeRecordUpdated")
        .withArgs(ids[0], "/dns4/a.example/tcp/30303");
      expect((await registry.getNode(ids[0])).record).to.equal("/dns4/a.example/tcp/30303");
      expect(await registry.revision()).to.equal(revision + 1n);
    });

    it("rejects a bad record and keeps the old one", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, alice, ids } = f;
      await expectNoChange(f, () => registry.getNode(ids[0]), async () => {
        await expect(registry.connect(alice).updateNodeRecord(ids[0], "")).to.be.revertedWithCustomError(
          registry,
          "EmptyRecord",
        );
        await expect(registry.connect(alice).updateNodeRecord(ids[0], "x".repeat(405)))
          .to.be.revertedWithCustomError(registry, "RecordTooLong")
          .withArgs(405, 404);
      });
    });

    it("sets a node's price", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, alice, ids } = f;
      const revision = await registry.revision();
      await expect(registry.connect(alice).setNodePrice(ids[1], 0n))
        .to.emit(registry, "NodePriceUpdated")
        .withArgs(ids[1], 0n);
      expect((await registry.getNode(ids[1])).pricePerMonth).to.equal(0n);
      await registry.connect(alice).setNodePrice(ids[1], MAX_UINT96);
      expect((await registry.getNode(ids[1])).pricePerMonth).to.equal(MAX_UINT96);
      expect(await registry.revision()).to.equal(revision + 2n);
    });

    it("deactivates and reactivates a node", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, alice, ids } = f;
      await expect(registry.connect(alice).setNodeActive(ids[0], false))
        .to.emit(registry, "NodeActiveChanged")
        .withArgs(ids[0], false);
      expect((await registry.getNode(ids[0])).status).to.equal(NodeStatus.Inactive);
      expect(await registry.isTrusted(ids[0])).to.equal(false);
      // Still listed: inactive is not removed.
      expect(await listAll(f, "kind", MAILSERVER_KIND)).to.include(ids[0]);
      await expect(registry.connect(alice).setNodeActive(ids[0], false))
        .to.be.revertedWithCustomError(registry, "NodeAlreadyInState")
        .withArgs(ids[0], false);
      await expect(registry.connect(alice).setNodeActive(ids[0], true))
        .to.emit(registry, "NodeActiveChanged")
        .withArgs(ids[0], true);
      expect(await registry.isTrusted(ids[0])).to.equal(true);
      await expect(registry.connect(alice).setNodeActive(ids[0], true))
        .to.be.revertedWithCustomError(registry, "NodeAlreadyInState")
        .withArgs(ids[0], true);
    });

    it("is reserved to the node's provider", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, curator, admin, bob, ids } = f;
      await registry.connect(curator).approveProvider(bob.address);
      const snapshot = () => registry.getNode(ids[0]);
      await expectNoChange(f, snapshot, async () => {
        for (const who of [bob, curator, admin]) {
          for (const action of [
            registry.connect(who).updateNodeRecord(ids[0], "x"),
            registry.connect(who).setNodePrice(ids[0], 1n),
            registry.connect(who).setNodeActive(ids[0], false),
          ]) {
            await expect(action)
              .to.be.revertedWithCustomError(registry, "NotNodeProvider")
              .withArgs(ids[0], who.address, f.alice.address);
          }
        }
        await expect(registry.connect(bob).removeNode(ids[0]))
          .to.be.revertedWithCustomError(registry, "NotNodeProvider")
          .withArgs(ids[0], bob.address, f.alice.address);
      });
    });

    it("rejects unknown and removed nodes", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, alice, curator, ids } = f;
      const unknown = randomNodeKey().nodeId;
      await registry.connect(alice).removeNode(ids[0]);
      for (const [id, error] of [
        [unknown, "UnknownNode"],
        [ids[0], "NodeIsRemoved"],
      ] as const) {
        for (const action of [
          registry.connect(alice).updateNodeRecord(id, "x"),
          registry.connect(alice).setNodePrice(id, 1n),
          registry.connect(alice).setNodeActive(id, false),
          registry.connect(alice).setNodeActive(id, true),
          registry.connect(alice).removeNode(id),
          registry.connect(curator).removeNode(id),
        ]) {
          await expect(action).to.be.revertedWithCustomError(registry, error).withArgs(id);
        }
      }
    });

    it("lets a suspended provider update, deactivate and remove its nodes", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, curator, alice, ids } = f;
      await registry.connect(curator).suspendProvider(alice.address, "");
      expect(await registry.isTrusted(ids[0])).to.equal(false);
      await registry.connect(alice).updateNodeRecord(ids[0], "new");
      await registry.connect(alice).setNodePrice(ids[0], 1n);
      await registry.connect(alice).setNodeActive(ids[0], false);
      await registry.connect(alice).setNodeActive(ids[0], true);
      await registry.connect(alice).removeNode(ids[1]);
      expect((await registry.getNode(ids[1])).status).to.equal(NodeStatus.Removed);
      // Reinstated: its active nodes are trusted again.
      await registry.connect(curator).reinstateProvider(alice.address);
      expect(await registry.isTrusted(ids[0])).to.equal(true);
    });

    it("lets a removed provider only remove its nodes", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, curator, alice, ids } = f;
      await registry.connect(curator).removeProvider(alice.address, "");
      for (const action of [
        registry.connect(alice).updateNodeRecord(ids[0], "x"),
        registry.connect(alice).setNodePrice(ids[0], 1n),
        registry.connect(alice).setNodeActive(ids[0], false),
      ]) {
        await expect(action).to.be.revertedWithCustomError(registry, "ProviderIsRemoved").withArgs(alice.address);
      }
      // Its nodes stay listed (but untrusted) until removed.
      expect(sorted(await listAll(f, "kind", MAILSERVER_KIND))).to.deep.equal(sorted(ids));
      expect(await registry.areTrusted(ids)).to.deep.equal([false, false, false]);
      await expect(registry.connect(alice).removeNode(ids[0])).to.emit(registry, "NodeRemoved").withArgs(ids[0], alice.address);
    });

    it("removes a node for good, by its provider or a curator", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, curator, alice, ids } = f;
      const revision = await registry.revision();
      await expect(registry.connect(alice).removeNode(ids[0]))
        .to.emit(registry, "NodeRemoved")
        .withArgs(ids[0], alice.address);
      const removedAt = BigInt(await time.latest());
      await expect(registry.connect(curator).removeNode(ids[1]))
        .to.emit(registry, "NodeRemoved")
        .withArgs(ids[1], alice.address);
      expect(await registry.revision()).to.equal(revision + 2n);
      const node = await registry.getNode(ids[0]);
      expect(node.status).to.equal(NodeStatus.Removed);
      expect(node.removedAt).to.equal(removedAt);
      expect(node.provider).to.equal(alice.address);
      expect(node.record).to.equal(RECORD);
      expect(await registry.isTrusted(ids[0])).to.equal(false);
      expect(await registry.terminatedAt(ids[0])).to.equal(removedAt);
      expect(await listAll(f, "kind", MAILSERVER_KIND)).to.deep.equal([ids[2]]);
      expect(await listAll(f, "provider", alice.address)).to.deep.equal([ids[2]]);
      expect((await registry.getProvider(alice.address)).nodeCount).to.equal(1n);
    });
  });

  describe("listings (swap-and-pop)", function () {
    it("stay equal to the live nodes per kind and per provider through any removal order", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, curator, alice, bob } = f;
      await registry.connect(curator).approveProvider(bob.address);
      await registry.connect(curator).setKindEnabled(PUSH_KIND, true);
      const model: { id: string; provider: string; kind: string }[] = [];
      const plan: [Signer, string][] = [
        [alice, MAILSERVER_KIND],
        [bob, MAILSERVER_KIND],
        [alice, PUSH_KIND],
        [alice, MAILSERVER_KIND],
        [bob, PUSH_KIND],
        [alice, MAILSERVER_KIND],
        [bob, MAILSERVER_KIND],
        [alice, PUSH_KIND],
      ];
      for (const [who, kind] of plan) {
        model.push({ id: await addNode(f, who, { kind }), provider: who.address, kind });
      }
      const check = async () => {
        for (const kind of [MAILSERVER_KIND, PUSH_KIND]) {
          const listed = await listAll(f, "kind", kind);
          expect(sorted(listed)).to.deep.equal(sorted(model.filter((n) => n.kind === kind).map((n) => n.id)));
        }
        for (const who of [alice, bob]) {
          const listed = await listAll(f, "provider", who.address);
          expect(sorted(listed)).to.deep.equal(
            sorted(model.filter((n) => n.provider === who.address).map((n) => n.id)),
          );
          expect((await registry.getProvider(who.address)).nodeCount).to.equal(BigInt(listed.length));
        }
      };
      await check();
      // Middle, first, last, then the rest (each removal of a moved node checks its stored index).
      for (const pick of [3, 0, "last", 2, 1, "last", 0, 0] as const) {
        const index = pick === "last" ? model.length - 1 : pick;
        const [victim] = model.splice(index, 1);
        await registry.connect(curator).removeNode(victim.id);
        await check();
      }
      expect(model).to.have.length(0);
    });

    it("removing the only node leaves empty lists", async function () {
      const f = await loadFixture(readyFixture);
      const id = await addNode(f, f.alice);
      await f.registry.connect(f.alice).removeNode(id);
      expect(await f.registry.nodesByKind(MAILSERVER_KIND, 0, 10)).to.deep.equal([[], 0n]);
      expect(await f.registry.nodesByProvider(f.alice.address, 0, 10)).to.deep.equal([[], 0n]);
    });
  });

  describe("paging", function () {
    it("pages nodes by kind and by provider", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, alice, ids } = f;
      for (const page of [
        (o: number, l: number) => registry.nodesByKind(MAILSERVER_KIND, o, l),
        (o: number, l: number) => registry.nodesByProvider(alice.address, o, l),
      ]) {
        expect(await page(0, 2)).to.deep.equal([[ids[0], ids[1]], 3n]);
        expect(await page(2, 2)).to.deep.equal([[ids[2]], 3n]);
        expect(await page(1, 1000)).to.deep.equal([[ids[1], ids[2]], 3n]);
        expect(await page(0, 0)).to.deep.equal([[], 3n]);
        expect(await page(3, 10)).to.deep.equal([[], 3n]);
        expect(await page(1000, 10)).to.deep.equal([[], 3n]);
      }
      expect(await registry.nodesByKind(PUSH_KIND, 0, 10)).to.deep.equal([[], 0n]);
      expect(await registry.nodesByProvider(f.stranger.address, 0, 10)).to.deep.equal([[], 0n]);
    });

    it("pages providers, including pending and removed ones", async function () {
      const { registry, curator, alice, bob, carol } = await loadFixture(readyFixture);
      await registry.connect(carol).applyAsProvider("Carol", "", carol.address);
      await registry.connect(curator).removeProvider(carol.address, "");
      expect(await registry.providers(0, 10)).to.deep.equal([[alice.address, bob.address, carol.address], 3n]);
      expect(await registry.providers(1, 1)).to.deep.equal([[bob.address], 3n]);
      expect(await registry.providers(2, 5)).to.deep.equal([[carol.address], 3n]);
      expect(await registry.providers(3, 5)).to.deep.equal([[], 3n]);
      expect(await registry.providers(ethers.MaxUint256, 5)).to.deep.equal([[], 3n]);
    });

    it("caps the page size", async function () {
      const { registry, alice } = await loadFixture(nodesFixture);
      await registry.providers(0, 1000);
      for (const call of [
        registry.providers(0, 1001),
        registry.nodesByKind(MAILSERVER_KIND, 0, 1001),
        registry.nodesByProvider(alice.address, 5, ethers.MaxUint256),
      ]) {
        await expect(call).to.be.revertedWithCustomError(registry, "PageLimitTooLarge");
      }
      await expect(registry.providers(0, 1001))
        .to.be.revertedWithCustomError(registry, "PageLimitTooLarge")
        .withArgs(1001, 1000);
    });
  });

  describe("trust views", function () {
    it("trust a node only when active, of an enabled kind and from an approved provider", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, curator, alice, ids } = f;
      expect(await registry.areTrusted(ids)).to.deep.equal([true, true, true]);
      await registry.connect(alice).setNodeActive(ids[0], false);
      expect(await registry.areTrusted(ids)).to.deep.equal([false, true, true]);
      await registry.connect(curator).suspendProvider(alice.address, "");
      expect(await registry.areTrusted(ids)).to.deep.equal([false, false, false]);
      await registry.connect(curator).reinstateProvider(alice.address);
      expect(await registry.areTrusted(ids)).to.deep.equal([false, true, true]);
      await registry.connect(alice).removeNode(ids[1]);
      expect(await registry.areTrusted(ids)).to.deep.equal([false, false, true]);
      // Disabling the kind retires its nodes for good (terminated then, as at a removal):
      // enabling it again lets new nodes register, not the retired ones back.
      expect(await registry.terminatedAt(ids[2])).to.equal(0n);
      await registry.connect(curator).setKindEnabled(MAILSERVER_KIND, false);
      const disabledAt = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
      expect(await registry.areTrusted(ids)).to.deep.equal([false, false, false]);
      await registry.connect(curator).setKindEnabled(MAILSERVER_KIND, true);
      expect(await registry.areTrusted(ids)).to.deep.equal([false, false, false]);
      expect(await registry.terminatedAt(ids[2])).to.equal(disabledAt);
      const fresh = await addNode(f, alice);
      expect(await registry.isTrusted(fresh)).to.equal(true);
      await registry.connect(curator).removeProvider(alice.address, "");
      expect(await registry.areTrusted(ids)).to.deep.equal([false, false, false]);
      expect(await registry.areTrusted([])).to.deep.equal([]);
      expect(await registry.isTrusted(ethers.ZeroHash)).to.equal(false);
    });

    it("getNodeTrust returns the facts of each node, unknown ones included", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, curator, alice, ids } = f;
      await registry.connect(alice).setNodeActive(ids[1], false);
      await registry.connect(curator).setKindEnabled(PUSH_KIND, true);
      const pushId = await addNode(f, alice, { kind: PUSH_KIND, price: 9n, record: "push" });
      await registry.connect(curator).setKindEnabled(PUSH_KIND, false);
      const unknown = randomNodeKey().nodeId;
      const trust = await registry.getNodeTrust([ids[0], ids[1], pushId, unknown]);
      expect(trust).to.have.length(4);
      const fields = (t: (typeof trust)[number]) => ({
        nodeId: t.nodeId,
        trusted: t.trusted,
        status: t.status,
        kindEnabled: t.kindEnabled,
        providerStatus: t.providerStatus,
        provider: t.provider,
        kind: t.kind,
        pricePerMonth: t.pricePerMonth,
        record: t.record,
      });
      const base = { provider: alice.address, providerStatus: ProviderStatus.Approved, record: RECORD };
      expect(fields(trust[0])).to.deep.equal({
        ...base,
        nodeId: ids[0],
        trusted: true,
        status: NodeStatus.Active,
        kindEnabled: true,
        kind: MAILSERVER_KIND,
        pricePerMonth: PRICE,
      });
      expect(fields(trust[1])).to.deep.equal({
        ...base,
        nodeId: ids[1],
        trusted: false,
        status: NodeStatus.Inactive,
        kindEnabled: true,
        kind: MAILSERVER_KIND,
        pricePerMonth: PRICE + 1n,
      });
      expect(fields(trust[2])).to.deep.equal({
        ...base,
        nodeId: pushId,
        trusted: false,
        status: NodeStatus.Active,
        kindEnabled: false,
        kind: PUSH_KIND,
        pricePerMonth: 9n,
        record: "push",
      });
      expect(fields(trust[3])).to.deep.equal({
        nodeId: unknown,
        trusted: false,
        status: NodeStatus.None,
        kindEnabled: false,
        providerStatus: ProviderStatus.None,
        provider: ethers.ZeroAddress,
        kind: ethers.ZeroHash,
        pricePerMonth: 0n,
        record: "",
      });
      expect(await registry.areTrusted([ids[0], ids[1], pushId, unknown])).to.deep.equal([true, false, false, false]);
    });

    it("nodeTerms and terminatedAt report the earliest removal", async function () {
      const f = await loadFixture(nodesFixture);
      const { registry, curator, alice, ids } = f;
      expect(await registry.nodeTerms(ids[0])).to.deep.equal([alice.address, PRICE, true, 0n]);
      expect(await registry.terminatedAt(ids[0])).to.equal(0n);
      expect(await registry.nodeTerms(ethers.ZeroHash)).to.deep.equal([ethers.ZeroAddress, 0n, false, 0n]);
      expect(await registry.terminatedAt(randomNodeKey().nodeId)).to.equal(0n);

      // Node removed first, provider later: the node's time.
      await registry.connect(alice).removeNode(ids[0]);
      const nodeRemovedAt = BigInt(await time.latest());
      expect(await registry.nodeTerms(ids[0])).to.deep.equal([alice.address, PRICE, false, nodeRemovedAt]);
      await time.increase(1000);
      await registry.connect(curator).removeProvider(alice.address, "");
      const providerRemovedAt = BigInt(await time.latest());
      expect(await registry.terminatedAt(ids[0])).to.equal(nodeRemovedAt);
      // Provider removed first, node later: the provider's time.
      expect(await registry.terminatedAt(ids[1])).to.equal(providerRemovedAt);
      await time.increase(1000);
      await registry.connect(alice).removeNode(ids[1]);
      expect(await registry.terminatedAt(ids[1])).to.equal(providerRemovedAt);
      expect(await registry.nodeTerms(ids[2])).to.deep.equal([alice.address, PRICE + 2n, false, providerRemovedAt]);
    });
  });

  describe("revision", function () {
    it("moves by one on every state change and never on a failure", async function () {
      const f = await loadFixture(readyFixture);
      const { registry, curator, alice, bob, carol } = f;
      let expected = await registry.revision();
      const step = async (action: () => Promise<unknown>) => {
        await action();
        expected += 1n;
        expect(await registry.revision()).to.equal(expected);
      };
      await step(() => registry.connect(carol).applyAsProvider("Carol", "", carol.address));
      await step(() => registry.connect(curator).approveProvider(bob.address));
      await step(() => registry.connect(curator).addProvider(carol.address, "Carol", "", carol.address));
      await step(() => registry.connect(curator).suspendProvider(carol.address, ""));
      await step(() => registry.connect(curator).reinstateProvider(carol.address));
      await step(() => registry.connect(curator).setDefaultProvider(bob.address));
      await step(() => registry.connect(alice).setPayout(carol.address));
      await step(() => registry.connect(alice).setProviderMetadata("A", ""));
      await step(() => registry.connect(curator).setKindEnabled(PUSH_KIND, true));
      let id = "";
      await step(async () => (id = await addNode(f, alice)));
      await step(() => registry.connect(alice).updateNodeRecord(id, "x"));
      await step(() => registry.connect(alice).setNodePrice(id, 3n));
      await step(() => registry.connect(alice).setNodeActive(id, false));
      await step(() => registry.connect(alice).removeNode(id));
      await step(() => registry.connect(curator).removeProvider(bob.address, ""));
      await expect(registry.connect(curator).removeProvider(bob.address, "")).to.be.revertedWithCustomError(
        registry,
        "InvalidProviderStatus",
      );
      expect(await registry.revision()).to.equal(expected);
    });
  });
});
