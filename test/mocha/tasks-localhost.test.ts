// The deploy script and the curator/provider tasks end to end, as a user runs them: a
// `hardhat node` on a free port, then `hardhat run deploy/deploy.ts` and `hardhat curator|provider
// ...` as child processes against it (--network localhost), each checked by its output and by
// the chain state read back through the SDK.
import { expect } from "chai";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Contract, JsonRpcProvider, parseUnits, Wallet, type JsonRpcSigner } from "ethers";
import {
  CuratorClient,
  RegistryClient,
  SubscriptionClient,
  STATUS_NETWORK,
  TrustPolicy,
  buildNodeEnr,
  formatEnrTreeUrl,
  kindId,
  nodeIdFromPrivateKey,
  PROBE_KIND_NAME,
  trustedProbeIds,
  verifyNodes,
  type DeploymentOverrides,
} from "@status/mailserver-sdk";
import { hardhat, ROOT, rpc, startHardhatNode, type CliResult, type LocalNode } from "../helpers/hardhatCli.js";

const UNIT = 10n ** 18n;
const DAY = 24 * 3600;
const LOCAL_RECORD = path.join(ROOT, "deploy", "deployments", "31337.json");
const TX = /^\s*tx (0x[0-9a-f]{64})$/m;

describe("tasks and deploy script against a hardhat node", function () {
  this.timeout(300_000);

  let node: LocalNode | undefined;
  let chain: JsonRpcProvider;
  let tmp: string;
  let addresses: DeploymentOverrides & { token: string };
  let accounts: JsonRpcSigner[];
  let admin: string; // account 0: deployer, admin, curator, token controller
  let operator: string; // account 1: the provider under test
  let subscriber: string; // account 2
  let outsider: string; // account 3: no role
  let candidate: string; // account 5: gets and loses the curator role
  let registry: RegistryClient;
  let escrow: SubscriptionClient;
  let nodeId: string;
  let enr: string;
  let enrFile: string;
  let keyFile: string;

  /** `npx hardhat <args> --network localhost` against the node. */
  const cli = (...args: string[]) => hardhat([...args, "--network", "localhost"], { LOCALHOST_RPC_URL: node!.url });

  const describeRun = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

  /** A command that succeeded quietly; returns its stdout. */
  const succeeded = (r: CliResult): string => {
    expect(r.code, describeRun(r)).to.equal(0);
    expect(r.errorLines, describeRun(r)).to.deep.equal([]);
    return r.stdout;
  };

  /** A command that sent one transaction, mined and successful; returns its stdout. */
  const sentTx = async (r: CliResult, what: RegExp): Promise<string> => {
    const out = succeeded(r);
    expect(out, describeRun(r)).to.match(what);
    const hash = TX.exec(out)?.[1];
    expect(hash, `no tx hash printed:\n${out}`).to.be.a("string");
    const receipt = await chain.getTransactionReceipt(hash!);
    expect(receipt?.status, `receipt of ${hash}`).to.equal(1);
    return out;
  };

  /** A refused command: non-zero exit, exactly one `Error: ...` line, no stack trace, no tx. */
  const refused = (r: CliResult, message: RegExp): void => {
    expect(r.code, describeRun(r)).to.not.equal(0);
    expect(r.errorLines, describeRun(r)).to.have.length(1);
    expect(r.errorLines[0], describeRun(r)).to.match(/^Error: /).and.match(message);
    expect(r.stderr, describeRun(r)).to.not.match(/^\s+at /m);
    expect(r.stdout, describeRun(r)).to.not.match(TX);
  };

  const status = async (account: string) => (await registry.getProvider(account))?.status ?? "none";

  /** A node key and its ENR in files (under tmp), for refusals that must not reach the chain. */
  const outsiderNode = "outsider";
  const enrFileOf = (name: string) => path.join(tmp, `${name}.enr`);
  const keyFileOf = (name: string) => path.join(tmp, `${name}.key`);

  before(async function () {
    this.timeout(120_000);
    tmp = await mkdtemp(path.join(tmpdir(), "tasks-localhost-"));
    node = await startHardhatNode(60_000);
    chain = new JsonRpcProvider(node.url, 31337, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
    accounts = await chain.listAccounts();
    const outsiderKey = Wallet.createRandom();
    await writeFile(enrFileOf(outsiderNode), buildNodeEnr({ privateKey: outsiderKey.privateKey, ip: "127.0.0.1", udp: 30303, tcp: 30303 }).enr);
    await writeFile(keyFileOf(outsiderNode), outsiderKey.privateKey);
    [admin, operator, subscriber, outsider] = await Promise.all(accounts.slice(0, 4).map((a) => a.getAddress()));
    candidate = await accounts[5].getAddress();
  });

  after(async function () {
    this.timeout(30_000);
    chain?.destroy();
    await node?.stop();
    // The record points at the node just stopped: tasks run later would find contracts that are
    // gone. Without it they say "deploy first". (Ignition's journal may stay: deploy.ts discards it.)
    const record = await readFile(LOCAL_RECORD, "utf8").then((text) => JSON.parse(text), () => undefined);
    if (addresses !== undefined && record?.registry === addresses.registry) await rm(LOCAL_RECORD, { force: true });
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it("deploys with deploy/deploy.ts and records deploy/deployments/31337.json", async () => {
    // A record left by a run against another node must not be what the tasks find. (Ignition's
    // journal of such a run, ignition/deployments/chain-31337, is discarded by deploy.ts itself.)
    await rm(LOCAL_RECORD, { force: true });
    // `hardhat test` compiled already: do not rebuild the artifacts under the running tests.
    const out = succeeded(await cli("run", "--no-compile", "deploy/deploy.ts"));
    const printed = (label: string) => new RegExp(`^${label}\\s+(0x[0-9a-fA-F]{40})$`, "m").exec(out)?.[1];
    expect(out).to.match(/^network\s+localhost \(chain 31337\)$/m);
    expect(out).to.match(/^recorded\s+deploy\/deployments\/31337\.json$/m);
    const [reg, esc, tok] = [printed("registry"), printed("escrow"), printed("token")];
    expect([reg, esc, tok], out).to.not.include(undefined);
    addresses = { registry: reg!, escrow: esc!, token: tok! };

    expect(existsSync(LOCAL_RECORD)).to.equal(true);
    const record = JSON.parse(await readFile(LOCAL_RECORD, "utf8"));
    expect(record).to.include({ registry: reg, escrow: esc, token: tok });
    expect(record.startBlock).to.be.a("number");
    for (const address of [reg!, esc!, tok!]) expect(await chain.getCode(address), address).to.not.equal("0x");

    registry = new RegistryClient({ runner: chain, chainId: 31337, addresses });
    escrow = new SubscriptionClient({ runner: chain, chainId: 31337, addresses });
    expect(await registry.isCurator(admin)).to.equal(true);
    expect(await registry.isKindEnabled("mailserver")).to.equal(true);
    expect(await escrow.tokenAddress()).to.equal(tok);
  });

  it("provider apply (account 1), curator pending lists it, refused approvals change nothing, curator approve", async () => {
    await sentTx(
      await cli("provider", "apply", "--name", "Acme Mail", "--uri", "https://acme.example/meta.json", "--account", "1"),
      new RegExp(`applied as provider ${operator} \\("Acme Mail"\\); pending until a curator approves`),
    );
    const applied = await registry.getProvider(operator);
    expect(applied).to.include({ status: "pending", name: "Acme Mail", metadataURI: "https://acme.example/meta.json", payout: operator });

    const pendingOut = succeeded(await cli("curator", "pending"));
    expect(pendingOut).to.match(/^1 pending provider\(s\):$/m);
    expect(pendingOut).to.match(new RegExp(`^\\s+${operator}\\s+Acme Mail\\s+https://acme\\.example/meta\\.json$`, "m"));

    const unknown = Wallet.createRandom().address;
    const [badAddress, unknownProvider, wrongRole] = await Promise.all([
      cli("curator", "approve", "not-an-address"),
      cli("curator", "approve", unknown),
      cli("curator", "approve", operator, "--account", "3"),
    ]);
    refused(badAddress, /not an address: not-an-address/);
    refused(unknownProvider, new RegExp(`unknown provider ${unknown}`));
    refused(wrongRole, new RegExp(`${outsider} is not a curator`));
    expect(await status(operator)).to.equal("pending");
    expect(await status(unknown)).to.equal("none");

    await sentTx(await cli("curator", "approve", operator), new RegExp(`^approved provider ${operator}$`, "m"));
    expect(await status(operator)).to.equal("approved");
  });

  it("state errors are plain sentences, checked before anything is sent", async () => {
    // Account 0 is the default provider already (README's own `provider apply` line used to get
    // the raw INVALID_PROVIDER_STATUS); the operator is approved already.
    const [again, approveAgain, reinstateApproved, notProvider] = await Promise.all([
      cli("provider", "apply", "--name", "Again"),
      cli("curator", "approve", operator),
      cli("curator", "reinstate", operator),
      cli("provider", "add-node", "--enr", enrFileOf(outsiderNode), "--key-file", keyFileOf(outsiderNode), "--account", "3"),
    ]);
    refused(again, new RegExp(`^Error: ${admin} is already a provider \\(".*", approved\\): an account applies once; apply from another account with --account <index>$`));
    refused(approveAgain, new RegExp(`^Error: provider ${operator} is approved: only a provider that is pending can be approved$`));
    refused(reinstateApproved, new RegExp(`^Error: provider ${operator} is approved: only a provider that is suspended can be reinstated$`));
    refused(notProvider, new RegExp(`^Error: ${outsider} is not a provider: apply first \\(npx hardhat provider apply --name \\.\\.\\. --network localhost\\)$`));
    for (const r of [again, approveAgain, reinstateApproved, notProvider]) expect(r.stderr).to.not.match(/[A-Z]{3,}_[A-Z_]+|InvalidProviderStatus/);
    expect(await status(admin)).to.equal("approved");
    expect(await status(operator)).to.equal("approved");
  });

  it("without --network a task says to name the chain, instead of a decoder error", async () => {
    // The record of this node's deployment exists: an in-process chain would have no code there.
    const r = await hardhat(["curator", "providers"], {});
    refused(r, /^Error: name the chain to act on: add --network localhost \(a running `npx hardhat node`, deployed with `npx hardhat run deploy\/deploy\.ts --network localhost`\) or --network <name> from hardhat\.config\.ts$/);
    expect(r.stderr).to.not.match(/could not decode/);
    const unreachable = await hardhat(["curator", "providers", "--network", "localhost"], { LOCALHOST_RPC_URL: "http://127.0.0.1:9" });
    refused(unreachable, /^Error: cannot reach network localhost: start it \(for localhost: npx hardhat node\) or check its url in hardhat\.config\.ts$/);
  });

  it("provider add-node refuses bad input, then registers a real ENR; set-price refuses a bad id, then sets the price", async () => {
    const nodeKey = Wallet.createRandom();
    const port = 40_000 + Math.floor(Math.random() * 20_000);
    const built = buildNodeEnr({ privateKey: nodeKey.privateKey, ip: "127.0.0.1", udp: port, tcp: port });
    enr = built.enr;
    nodeId = built.nodeId;
    enrFile = path.join(tmp, "node.enr");
    keyFile = path.join(tmp, "node.key");
    await writeFile(enrFile, `${enr}\n`);
    await writeFile(keyFile, `${nodeKey.privateKey.slice(2)}\n`); // bare hex, as `openssl rand -hex 32` writes

    const [malformed, missingKey, badPrice] = await Promise.all([
      cli("provider", "add-node", "--enr", "enr:-not-a-record", "--key-file", keyFile, "--price", "25", "--account", "1"),
      cli("provider", "add-node", "--enr", enrFile, "--key-file", path.join(tmp, "missing.key"), "--price", "25", "--account", "1"),
      cli("provider", "add-node", "--enr", enrFile, "--key-file", keyFile, "--price", "abc", "--account", "1"),
    ]);
    refused(malformed, /invalid ENR/i);
    refused(missingKey, /cannot read node key file .*missing\.key/);
    refused(badPrice, /--price must be a token amount .*\(got abc\)/);
    expect(await registry.allNodesByProvider(operator)).to.deep.equal([]);

    await sentTx(
      await cli("provider", "add-node", "--enr", enrFile, "--key-file", keyFile, "--price", "25", "--account", "1"),
      new RegExp(`^added node ${nodeId} at 25\\.0 SNT per month$`, "m"),
    );
    const added = await registry.getNode(nodeId);
    expect(added).to.include({ provider: operator, status: "active", record: enr, pricePerMonth: 25n * UNIT });
    expect(await registry.isTrusted(nodeId)).to.equal(true);

    refused(await cli("provider", "set-price", "0x1234", "5", "--account", "1"), /not a node id \(32-byte hex\): 0x1234/);
    expect((await registry.getNode(nodeId))?.pricePerMonth).to.equal(25n * UNIT);

    await sentTx(
      await cli("provider", "set-price", nodeId, "30", "--account", "1"),
      new RegExp(`^set the price of ${nodeId} to 30\\.0 SNT per month`, "m"),
    );
    expect((await registry.getNode(nodeId))?.pricePerMonth).to.equal(30n * UNIT);
  });

  it("provider add-node registers a Waku store node from its ENR and nwaku-style key file; dns-tree publishes the trusted nodes", async () => {
    const wakuKey = Wallet.createRandom();
    const waku = buildNodeEnr({
      privateKey: wakuKey.privateKey, ip: "127.0.0.1", tcp: 30303, udp: 9000,
      multiaddrs: ["/dns4/store-01.mail.example.org/tcp/30303", "/dns4/store-01.mail.example.org/tcp/443/wss"],
      shards: STATUS_NETWORK,
    });
    const wakuEnrFile = path.join(tmp, "waku.enr");
    const wakuKeyFile = path.join(tmp, "nodekey");
    await writeFile(wakuEnrFile, `${waku.enr}\n`);
    await writeFile(wakuKeyFile, `${wakuKey.privateKey.slice(2)}\n`); // nwaku's --nodekey: 32 bytes hex
    const relayOnly = buildNodeEnr({ privateKey: wakuKey.privateKey, ip: "127.0.0.1", kind: [], capabilities: ["relay"] });
    const [wrongKey, notStore] = await Promise.all([
      cli("provider", "add-node", "--enr", wakuEnrFile, "--key-file", keyFile, "--account", "1"),
      cli("provider", "add-node", "--enr", relayOnly.enr, "--key-file", wakuKeyFile, "--account", "1"),
    ]);
    refused(wrongKey, /holds the key of another node than the ENR's/);
    refused(notStore, /does not announce store, which a mailserver node serves/);
    await sentTx(
      await cli("provider", "add-node", "--enr", wakuEnrFile, "--key-file", wakuKeyFile, "--price", "10", "--account", "1"),
      new RegExp(`^added node ${waku.nodeId} at 10\\.0 SNT per month$`, "m"),
    );
    // A fleet-size ENR (over 300 characters of text) is registered as it is.
    expect(waku.enr.length).to.be.greaterThan(300);
    expect((await registry.getNode(waku.nodeId))?.record).to.equal(waku.enr);
    const [verdict] = await verifyNodes(registry, [waku.enr], { kind: "mailserver", policy: new TrustPolicy({ providers: [operator] }) });
    expect(verdict).to.include({ status: "trusted", endpointMismatch: false });

    // dns-tree: the registry's trusted mail servers (both nodes of account 1), signed with a key from a file.
    const treeKeyFile = path.join(tmp, "tree.key");
    const treeKey = Wallet.createRandom();
    await writeFile(treeKeyFile, treeKey.privateKey);
    const zoneFile = path.join(tmp, "zone.txt");
    const r = await cli("dns-tree", "--domain", "mail.example.org", "--seq", "2", "--key-file", treeKeyFile, "--out", zoneFile);
    expect(r.code, describeRun(r)).to.equal(0);
    const zoneText = await readFile(zoneFile, "utf8");
    expect(zoneText).to.include(`; ${formatEnrTreeUrl(treeKey.signingKey.publicKey, "mail.example.org")}`);
    expect(zoneText).to.include(enr.slice(0, 200));
    refused(await cli("dns-tree", "--domain", "mail.example.org", "--seq", "2"), /no tree key: pass --key-file or set the configuration variable DNS_TREE_KEY/);
  });

  it("account 2 subscribes through the SDK; after time passes provider nodes shows it and provider withdraw pays out", async () => {
    refused(await cli("token", "mint", "--to", "2", "--account", "1"), new RegExp(`^Error: ${operator} cannot mint: the token's controller is ${admin} \\(account 0 of the deployment; drop --account\\)$`));
    refused(await cli("token", "mint", "--to", "2", "--amount", "-5"), /^Error: --amount must be more than 0 \(got -5\)$/);
    await sentTx(await cli("token", "mint", "--to", "2", "--amount", "1000"), new RegExp(`^minted 1000\\.0 test SNT to ${subscriber} \\(balance 1000\\.0 SNT\\)$`, "m"));
    const token = new Contract(addresses.token, ["function balanceOf(address) view returns (uint256)"], chain);
    expect(await token.getFunction("balanceOf")(subscriber)).to.equal(1000n * UNIT);
    const buyer = new SubscriptionClient({ runner: accounts[2], chainId: 31337, addresses });
    const bought = await buyer.subscribe({ nodeId, months: 2 });
    expect(bought.pricePerMonth).to.equal(30n * UNIT);
    expect(bought.amount).to.equal(60n * UNIT);
    expect(await escrow.balanceOf(subscriber)).to.equal(940n * UNIT);
    expect((await escrow.status(nodeId, subscriber)).active).to.equal(true);

    await rpc(node!.url, "evm_increaseTime", [35 * DAY]);
    await rpc(node!.url, "evm_mine");
    const earnings = await escrow.nodeEarnings(nodeId);
    expect(earnings.withdrawable > 0n, "withdrawable after 35 days").to.equal(true);

    const nodesOut = succeeded(await cli("provider", "nodes", "--account", "1"));
    expect(nodesOut).to.match(new RegExp(`^node ${nodeId}\\s+active\\s+30\\.0 SNT/month$`, "m"));
    expect(nodesOut).to.match(/^\s+earned [\d.]+ SNT, withdrawable [\d.]+ SNT, held [\d.]+ SNT$/m);
    expect(nodesOut.toLowerCase()).to.match(new RegExp(`^\\s+active\\s+client ${subscriber.toLowerCase()}\\s+owner ${subscriber.toLowerCase()}\\s+until `, "m"));

    const before = await escrow.balanceOf(operator);
    const withdrawOut = await sentTx(
      await cli("provider", "withdraw", "--account", "1"),
      new RegExp(`^withdrew [\\d.]+ SNT earned by ${nodeId} to ${operator}$`, "m"),
    );
    const amount = parseUnits(/^withdrew ([\d.]+) SNT/m.exec(withdrawOut)![1], 18);
    expect(amount >= earnings.withdrawable, `withdrew ${amount}, at least ${earnings.withdrawable}`).to.equal(true);
    expect((await escrow.balanceOf(operator)) - before).to.equal(amount);
    expect((await escrow.nodeEarnings(nodeId)).withdrawable).to.equal(0n);
  });

  it("provider add-probe refuses until a curator enabled the probe kind, then registers the probe, whose reports then count", async () => {
    const probeKey = Wallet.createRandom();
    const probeKeyFile = path.join(tmp, "probe.key");
    await writeFile(probeKeyFile, `${probeKey.privateKey.slice(2)}\n`);
    const probeId = nodeIdFromPrivateKey(probeKey.privateKey);
    const record = "https://probe.example/reports";
    const [missing, enrRecord, kindOff, outsiderProbe] = await Promise.all([
      cli("provider", "add-probe", "--key-file", probeKeyFile),
      cli("provider", "add-probe", "--key-file", probeKeyFile, "--record", buildNodeEnr({ privateKey: probeKey.privateKey, ip: "127.0.0.1", tcp: 30303, udp: 30303 }).enr),
      cli("provider", "add-probe", "--key-file", probeKeyFile, "--record", record),
      cli("provider", "add-probe", "--key-file", probeKeyFile, "--record", record, "--account", "3"),
    ]);
    refused(missing, /^Error: --key-file and --record are required$/);
    refused(enrRecord, /^Error: --record is where the probe's reports are served \(an https:\/\/ URL\), not an ENR$/);
    refused(kindOff, /^Error: node kind probe is not enabled in this registry: a curator enables it first \(npx hardhat curator kind probe --new --network localhost\)$/);
    refused(outsiderProbe, /is not a provider: apply first/);
    expect(await trustedProbeIds(registry)).to.deep.equal([]);

    await sentTx(await cli("curator", "kind", "probe", "--new"), /^enabled kind probe \(0x[0-9a-f]{64}\)$/m);
    await sentTx(await cli("provider", "add-probe", "--key-file", probeKeyFile, "--record", record), new RegExp(`^added probe ${probeId}; apps that trust ${admin} count its reports$`, "m"));
    expect(await registry.getNode(probeId)).to.include({ provider: admin, status: "active", record, kind: kindId(PROBE_KIND_NAME), pricePerMonth: 0n });
    expect(await trustedProbeIds(registry)).to.deep.equal([probeId]);
    refused(await cli("provider", "add-probe", "--key-file", probeKeyFile, "--record", record), new RegExp(`^Error: node ${probeId} is already registered \\(active, by ${admin}\\)$`));
  });

  it("curator suspend, reinstate and remove a provider", async () => {
    await sentTx(await cli("curator", "suspend", operator, "--reason", "x"), new RegExp(`^suspended provider ${operator}$`, "m"));
    expect(await status(operator)).to.equal("suspended");
    expect(await registry.isTrusted(nodeId)).to.equal(false);
    await sentTx(await cli("curator", "reinstate", operator), new RegExp(`^reinstated provider ${operator}$`, "m"));
    expect(await status(operator)).to.equal("approved");
    expect(await registry.isTrusted(nodeId)).to.equal(true);
    await sentTx(await cli("curator", "remove", operator, "--reason", "x"), new RegExp(`^removed provider ${operator}$`, "m"));
    expect(await status(operator)).to.equal("removed");
    expect(await registry.isTrusted(nodeId)).to.equal(false);
  });

  it("curator kind enables and disables a node kind; curator pause pauses and unpauses the escrow", async () => {
    expect(await registry.isKindEnabled("push-notifications")).to.equal(false);
    // A typo must not create a kind: a kind not enabled now needs --new.
    refused(await cli("curator", "kind", "mailserverz"), /^Error: kind mailserverz is not enabled in this registry: check its spelling, or pass --new to enable it as a new kind$/);
    expect(await registry.isKindEnabled("mailserverz")).to.equal(false);
    refused(await cli("curator", "kind", "mailserver"), /^Error: kind mailserver is already enabled$/);
    await sentTx(await cli("curator", "kind", "push-notifications", "--new"), /^enabled kind push-notifications \(0x[0-9a-f]{64}\)$/m);
    expect(await registry.isKindEnabled("push-notifications")).to.equal(true);
    await sentTx(await cli("curator", "kind", "push-notifications", "--disable"), /^disabled kind push-notifications \(0x[0-9a-f]{64}\)$/m);
    expect(await registry.isKindEnabled("push-notifications")).to.equal(false);
    expect(await registry.isKindEnabled("mailserver")).to.equal(true);

    await sentTx(await cli("curator", "pause"), /^paused the escrow/m);
    expect(await escrow.paused()).to.equal(true);
    await sentTx(await cli("curator", "pause", "--unpause"), /^unpaused the escrow$/m);
    expect(await escrow.paused()).to.equal(false);
  });

  it("curator grant refuses a non-admin, then grants and revokes the curator role", async () => {
    refused(await cli("curator", "grant", candidate, "--account", "1"), new RegExp(`${operator} is not the admin`));
    expect(await registry.isCurator(candidate)).to.equal(false);

    await sentTx(await cli("curator", "grant", candidate), new RegExp(`^granted the curator role to ${candidate}$`, "m"));
    expect(await registry.isCurator(candidate)).to.equal(true);
    const curator = new CuratorClient({ runner: chain, chainId: 31337, addresses });
    expect(await curator.isCurator(candidate)).to.equal(true);
    await sentTx(await cli("curator", "grant", candidate, "--revoke"), new RegExp(`^revoked the curator role from ${candidate}$`, "m"));
    expect(await registry.isCurator(candidate)).to.equal(false);
  });

  it("npm run demo -- --network localhost tells the same story against this node", async function () {
    this.timeout(120_000);
    const r = await cli("run", "--no-compile", "scripts/demo.ts");
    expect(r.code, describeRun(r)).to.equal(0);
    expect(r.stdout).to.match(/the whole story on "localhost"/);
    expect(r.stdout).to.match(/the user's signed request\s+allowed/);
    expect(r.stdout).to.match(/the user's signed request\s+refused: expired/);
    expect(r.stdout).to.match(/The escrow now holds 0 SNT/);
  });
});
