// The mail server as an operator runs it: `mailserver-node --config <file>` processes. Bad
// configuration gets one line; SIGTERM shuts down cleanly; after a restart the archive and the
// subscription index are still there and a new connection needs a new grant; two processes on one
// PostgreSQL archive serve each other's messages.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import { parseEnr } from "@status/mailserver-sdk";
import { bytesToUtf8, utf8ToBytes, type LightNode } from "@waku/sdk";
import { ROOT } from "../helpers/hardhatCli.js";
import { fetchMessages, presentGrant, startChain, wakuClient, type Chain } from "../helpers/mailServer.js";
import { startPostgres, type LocalPostgres } from "../helpers/postgres.js";
import { BIN, startServerProcess, writeConfig, type ServerProcess } from "../helpers/serverProcess.js";

const run = promisify(execFile);
const TOPIC = "/mailserver-cli/1/chat/proto";

describe("mailserver-node CLI", function () {
  this.timeout(180_000);
  let chain: Chain;
  let pgServer: LocalPostgres;
  let tmp: string;
  let keyFile: string;
  const bobKey = Wallet.createRandom() as unknown as Wallet;
  const clients: LightNode[] = [];
  const processes: ServerProcess[] = [];
  const now = () => Math.floor(Date.now() / 1000);

  const base = () => ({
    nodeKeyFile: keyFile,
    listen: ["/ip4/127.0.0.1/tcp/0/ws"],
    rpcUrl: chain.node.url,
    chainId: 31337,
    escrow: chain.addresses.escrow,
    startBlock: 0,
    confirmations: 0,
    indexIntervalMs: 200,
    logLevel: "debug",
  });
  const serve = async (config: Record<string, unknown>, name: string) => {
    const server = startServerProcess(await writeConfig(tmp, name, config));
    processes.push(server);
    const serving = await server.waitFor("serving");
    return { server, peerId: serving.peerId as string, address: (serving.multiaddrs as string[]).find((a) => a.includes("/ws/"))! };
  };
  const client = async (address: string) => {
    const waku = await wakuClient(address);
    clients.push(waku);
    return waku;
  };
  const push = async (address: string, texts: string[]) => {
    const alice = await client(address);
    const encoder = alice.createEncoder({ contentTopic: TOPIC });
    for (const text of texts) expect((await alice.lightPush.send(encoder, { payload: utf8ToBytes(text) })).failures).to.deep.equal([]);
  };
  const fetchAll = async (waku: LightNode) => (await fetchMessages(waku, TOPIC)).map((m) => bytesToUtf8(m.payload));

  before(async function () {
    this.timeout(120_000);
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-cli-"));
    [chain, pgServer] = await Promise.all([startChain(), startPostgres()]);
    await chain.subscribe(2, bobKey, 2);
    keyFile = path.join(tmp, "node.key");
    await writeFile(keyFile, `${chain.nodeKey.privateKey.slice(2)}\n`);
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await Promise.all(processes.map((p) => p.stop("SIGKILL")));
    await chain?.stop();
    await pgServer?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it("`npx mailserver-node` refuses bad configuration with one line and exit code 1", async () => {
    const cases: [Record<string, unknown> | string, RegExp][] = [
      ["{not json", /^Error: config file .* is not JSON/],
      [{ ...base(), mode: "paid" }, /^Error: config: mode must be one of paid-only, free, freemium \(got "paid"\)$/],
      [{ ...base(), rpcUrl: undefined }, /^Error: config: rpcUrl is required in mode paid-only$/],
      [{ ...base(), shards: [] }, /^Error: config: shards must be a non-empty list of integers/],
      [{ ...base(), limits: { maxPageSize: "many" } }, /^Error: config: limits.maxPageSize must be an integer from 1 to 1000 \(got "many"\)$/],
      [{ ...base(), limits: { maxEventLoopDelayMs: 0 } }, /^Error: config: limits.maxEventLoopDelayMs must be an integer from 1 \(got 0\)$/],
      [{ ...base(), limits: { freeQueriesPerSecond: -1 } }, /^Error: config: limits.freeQueriesPerSecond must be an integer from 0 \(got -1\)$/],
      [{ ...base(), colour: "blue" }, /^Error: config: unknown field colour$/],
      [{ ...base(), nodeKeyFile: "missing.key" }, /^Error: cannot read node key file .*missing\.key: ENOENT$/],
      [{ ...base(), archive: { backend: "postgres", url: "mysql://x" } }, /^Error: config: archive.url must be a postgres:\/\/ URL/],
      // The RPC serves 31337: a config left at chainId 1 is caught at start, not by silent refusals.
      [{ ...base(), chainId: 1 }, /^Error: config: chainId is 1 but rpcUrl serves chain 31337: set chainId to 31337, or point rpcUrl at chain 1$/],
      [{ ...base(), escrow: undefined }, /^Error: config: escrow is required on chain 31337, where no deployment is known: set escrow \(and startBlock\) to the escrow contract's address \(and deployment block\)$/],
    ];
    // The first through npx, as the README says; the others straight through the bin, at once.
    await Promise.all(
      cases.map(async ([config, expected], i) => {
        const file = path.join(tmp, `bad-${i}.json`);
        await writeFile(file, typeof config === "string" ? config : JSON.stringify(config));
        const [command, args] = i === 0 ? ["npx", ["mailserver-node", "--config", file]] : [process.execPath, [BIN, "--config", file]];
        const result = await run(command as string, args as string[], { cwd: ROOT }).then(
          () => ({ code: 0, stderr: "" }),
          (e: { code: number; stderr: string }) => e,
        );
        const lines = result.stderr.split("\n").filter((l) => l !== "" && !/^npm warn/i.test(l));
        expect(result.code, String(config)).to.equal(1);
        expect(lines, result.stderr).to.have.length(1);
        expect(lines[0]).to.match(expected);
      }),
    );
  });

  it("`mailserver-node key` makes a key once and prints the ENR only when the node's addresses are known before it starts", async () => {
    const key = async (config: Record<string, unknown>, name: string) => {
      const file = path.join(tmp, name);
      await writeFile(file, JSON.stringify(config));
      return (await run(process.execPath, [BIN, "key", "--config", file], { cwd: ROOT })).stdout;
    };
    const free = { listen: ["/ip4/127.0.0.1/tcp/60000/ws"], mode: "free" };
    const first = await key({ ...free, nodeKeyFile: "keys/a.key" }, "key-a.json");
    expect(first).to.match(/^node key\s+.*keys\/a\.key \(new: keep it secret, it is the node's identity\)$/m);
    expect(first).to.match(/^peer id\s+16Uiu2\S+$/m).and.match(/^node id\s+0x[0-9a-f]{64}$/m);
    expect(first).to.match(/^enr\s+none yet: add discovery \(ip, udpPort\) to the config, or register the enr of the node's serving log line$/m);
    const wildcard = await key({ ...free, nodeKeyFile: "keys/a.key", listen: ["/ip4/0.0.0.0/tcp/8000/ws"], discovery: { ip: "127.0.0.1", udpPort: 9000 } }, "key-b.json");
    expect(wildcard).to.match(/\(existing\)$/m).and.match(/^enr\s+none yet: set announce to the addresses clients dial/m);
    // Same key file, same node id, whatever the config around it.
    expect(/^node id\s+(\S+)$/m.exec(wildcard)?.[1]).to.equal(/^node id\s+(\S+)$/m.exec(first)?.[1]);
    const announced = await key({ ...free, nodeKeyFile: "keys/a.key", listen: ["/ip4/0.0.0.0/tcp/8000/ws"], announce: ["/dns4/mail.example.org/tcp/443/wss"], discovery: { ip: "203.0.113.7", udpPort: 9000 } }, "key-c.json");
    const enr = /^enr\s+(enr:\S+)$/m.exec(announced)?.[1];
    expect(enr, announced).to.be.a("string");
    expect(parseEnr(enr!)).to.deep.include({ ip: "203.0.113.7", udp: 9000, multiaddrs: ["/dns4/mail.example.org/tcp/443/wss"] });
    expect(announced).to.include(`register  npx hardhat provider add-node --enr ${enr} --key-file ${path.join(tmp, "keys", "a.key")} --price <SNT per month> --network <name>`);
  });

  it("restarts with its archive and index; Bob's new connection needs a new grant", async () => {
    const config = { ...base(), archive: { backend: "sqlite", path: "restart/archive.sqlite" }, indexFile: "restart/index.sqlite" };
    const first = await serve(config, "restart.json");
    expect(first.peerId).to.match(/^16Uiu2/);
    await push(first.address, ["r1", "r2", "r3"]);
    const bob = await client(first.address);
    await presentGrant(bob, first.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now).then(({ session }) => session.stop());
    expect(await fetchAll(bob)).to.deep.equal(["r1", "r2", "r3"]);
    expect(first.server.events.some((e) => e.event === "grant-accepted" && e.clientId === bobKey.address)).to.equal(true);

    expect(await first.server.stop("SIGTERM")).to.equal(0);
    expect(first.server.events.map((e) => e.event)).to.include.members(["shutting-down", "stopped", "shutdown-complete"]);
    // What the stopped server left in its SQLite index, read as another process would.
    // (node:sqlite, built into Node: the test loads no native addon either.)
    const db = new DatabaseSync(path.join(tmp, "restart", "index.sqlite"), { readOnly: true });
    const clients = (db.prepare("SELECT client_id FROM entries").all() as { client_id: string }[]).map((r) => r.client_id.toLowerCase());
    const saved = JSON.parse((db.prepare("SELECT value FROM meta WHERE key = 'cursor'").get() as { value: string }).value) as { lastBlock: number };
    db.close();
    expect(clients).to.deep.equal([bobKey.address.toLowerCase()]);

    const second = await serve(config, "restart.json");
    const loaded = second.server.events.find((e) => e.event === "index-loaded")!;
    expect(loaded.entries).to.equal(1);
    expect(loaded.lastBlock).to.equal(saved.lastBlock);
    const again = await client(second.address);
    const refused = await fetchAll(again).catch((e: Error) => e);
    expect((refused as Error).message).to.match(/status code: 402/).and.match(/no-grant/);
    await presentGrant(again, second.peerId, bobKey, chain.nodeId, chain.addresses.escrow, now).then(({ session }) => session.stop());
    expect(await fetchAll(again)).to.deep.equal(["r1", "r2", "r3"]);
    await second.server.stop("SIGINT");
  });

  it("two processes share one PostgreSQL archive: lightpushed to one, served by the other", async () => {
    const url = await pgServer.createDatabase("shared");
    const otherKey = path.join(tmp, "other.key");
    await writeFile(otherKey, Wallet.createRandom().privateKey);
    const [a, b] = await Promise.all([
      serve({ ...base(), archive: { backend: "postgres", url }, indexFile: "a-index.sqlite" }, "a.json"),
      // The second node runs free (its own key, no registration needed to serve).
      serve({ nodeKeyFile: otherKey, listen: ["/ip4/127.0.0.1/tcp/0/ws"], mode: "free", archive: { backend: "postgres", url }, logLevel: "debug" }, "b.json"),
    ]);
    expect(a.peerId).to.not.equal(b.peerId);
    await push(a.address, ["shared 1", "shared 2"]);
    const reader = await client(b.address);
    expect(await fetchAll(reader)).to.deep.equal(["shared 1", "shared 2"]);
    expect(b.server.events.some((e) => e.event === "pushed")).to.equal(false);
    expect(existsSync(path.join(tmp, "archive.sqlite"))).to.equal(false);
  });
});
