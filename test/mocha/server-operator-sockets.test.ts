// Idle sockets must not lock new clients out: sockets that connect and then say nothing (plain TCP,
// or a WebSocket upgrade followed by silence) from other addresses are held at most to the
// per-address bound, and real @waku/sdk clients from another address still connect and query.
// libp2p's default (10 pending handshakes in total, each held 10 s) let 10 such sockets lock
// every new client out.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Protocols, type LightNode } from "@waku/sdk";
import { MailServerNode, SqliteArchive } from "@status/mailserver-node";
import { fetchMessages, wakuClient } from "../helpers/mailServer.js";

const TOPIC = "/mailserver-operator/1/chat/proto";

/** A TCP socket from `from` that connects and then stays silent (optionally after a WebSocket upgrade). */
async function silentSocket(port: number, from: string, websocket: boolean): Promise<net.Socket> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  if (websocket) {
    const key = randomBytes(16).toString("base64");
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    // The 101 answer: from here libp2p waits for the Noise handshake, which never comes.
    await new Promise<void>((resolve) => socket.once("data", () => resolve()));
  }
  return socket;
}

const portOf = (address: string) => Number(address.split("/")[4]);

/** A free mail server on loopback (TCP and WebSocket) for one describe block, and what its tests leave open. */
function useServer(nodeLimits?: NonNullable<Parameters<typeof MailServerNode.create>[0]["nodeLimits"]>) {
  const fixture = { server: undefined as unknown as MailServerNode, sockets: [] as net.Socket[], clients: [] as LightNode[] };
  let tmp: string;
  let archive: SqliteArchive;
  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-operator-sockets-"));
    archive = new SqliteArchive(path.join(tmp, "archive.sqlite"));
    fixture.server = await MailServerNode.create({
      privateKey: randomBytes(32),
      listen: ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"],
      clusterId: 1,
      shards: [0],
      mode: "free",
      archive,
      relay: { enabled: false },
      ...(nodeLimits !== undefined ? { nodeLimits } : {}),
    });
    await fixture.server.start();
  });
  afterEach(() => {
    for (const socket of fixture.sockets.splice(0)) socket.destroy();
  });
  after(async function () {
    this.timeout(60_000);
    await Promise.all(fixture.clients.map((c) => c.stop().catch(() => undefined)));
    await fixture.server.stop();
    await archive.close();
    await rm(tmp, { recursive: true, force: true });
  });
  return fixture;
}

describe("mail server operator: idle sockets do not lock new clients out", function () {
  this.timeout(120_000);
  const fixture = useServer();
  const { sockets, clients } = fixture;
  const server = () => fixture.server;

  const addresses = () => {
    const ws = server().multiaddrs.find((a) => a.includes("/ws/"))!;
    const tcp = server().multiaddrs.find((a) => !a.includes("/ws"))!;
    return { ws, tcp, wsPort: portOf(ws), tcpPort: portOf(tcp) };
  };

  async function clientsConnectAndQuery(count: number) {
    const { ws } = addresses();
    for (let i = 0; i < count; i++) {
      const waku = await wakuClient(ws, [Protocols.Store]);
      clients.push(waku);
      expect(await fetchMessages(waku, TOPIC)).to.deep.equal([]);
    }
  }

  for (const n of [10, 40]) {
    it(`${n} silent sockets from one other address to each port: new clients still connect and query`, async () => {
      const { wsPort, tcpPort } = addresses();
      for (let i = 0; i < n; i++) sockets.push(await silentSocket(tcpPort, "127.0.0.2", false));
      for (let i = 0; i < n; i++) sockets.push(await silentSocket(wsPort, "127.0.0.2", true));
      await clientsConnectAndQuery(3);
    });
  }

  it("silent sockets from many addresses (within the total bound): new clients still connect and query", async () => {
    const { wsPort, tcpPort } = addresses();
    for (let host = 2; host < 12; host++) {
      for (let i = 0; i < 6; i++) {
        sockets.push(await silentSocket(tcpPort, `127.0.0.${host}`, false));
        sockets.push(await silentSocket(wsPort, `127.0.0.${host}`, true));
      }
    }
    await clientsConnectAndQuery(3);
  });
});

// Past the bounds: libp2p refuses new connections once its pending bound is full, so silent
// sockets from enough addresses, or from the address the clients share (a NAT), kept every new
// client out for as long as they were renewed. Now the oldest pending handshake gives way.
describe("mail server operator: past the pending bounds, the oldest handshake gives way", function () {
  this.timeout(120_000);
  // Small bounds and a long deadline: no slot frees itself while the test runs.
  const fixture = useServer({ maxPendingConnections: 12, maxPendingPerAddress: 3, handshakeTimeoutMs: 60_000 });
  const { sockets, clients } = fixture;
  const server = () => fixture.server;

  async function clientConnectsAndQueries() {
    const ws = server().multiaddrs.find((a) => a.includes("/ws/"))!;
    const waku = await wakuClient(ws, [Protocols.Store]);
    clients.push(waku);
    expect(await fetchMessages(waku, TOPIC)).to.deep.equal([]);
  }

  it("more silent sockets than the total bound, from several addresses: a new client connects and queries", async () => {
    const ws = server().multiaddrs.find((a) => a.includes("/ws/"))!;
    const tcp = server().multiaddrs.find((a) => !a.includes("/ws"))!;
    // 6 addresses x 2 ports x 2 = 24 silent handshakes against a bound of 12.
    for (let host = 2; host < 8; host++) {
      for (let i = 0; i < 2; i++) {
        sockets.push(await silentSocket(portOf(tcp), `127.0.0.${host}`, false));
        sockets.push(await silentSocket(portOf(ws), `127.0.0.${host}`, true));
      }
    }
    await clientConnectsAndQueries();
  });

  it("silent sockets from the client's own address, past its per-address bound: the client still connects and queries", async () => {
    const ws = server().multiaddrs.find((a) => a.includes("/ws/"))!;
    for (let i = 0; i < 6; i++) sockets.push(await silentSocket(portOf(ws), "127.0.0.1", true));
    await clientConnectsAndQueries();
  });
});

