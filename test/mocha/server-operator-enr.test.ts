// The ENR's sequence number moves on: a restart whose record says something new (here: another
// listening port) publishes it with the saved sequence number + 1, so that discovery peers
// replace the old record; a restart with the same record keeps the number.
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Wallet } from "ethers";
import { parseEnr } from "@status/mailserver-sdk";
import { findFreeUdpPort } from "@status/mailserver-sdk/discovery";
import { parseConfig, silentLogger, startServer } from "@status/mailserver-node";

async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("mail server operator: the ENR's sequence number", function () {
  this.timeout(120_000);
  let tmp: string;
  let udpPort: number;

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mailserver-operator-enr-"));
    await writeFile(path.join(tmp, "node.key"), Wallet.createRandom().privateKey);
    udpPort = await findFreeUdpPort("127.0.0.1");
  });

  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function seqAfterStart(wsPort: number): Promise<bigint> {
    const config = parseConfig(
      {
        nodeKeyFile: "node.key",
        listen: [`/ip4/127.0.0.1/tcp/${wsPort}/ws`],
        mode: "free",
        archive: { backend: "sqlite", path: ":memory:" },
        clusterId: 16,
        shards: [32],
        discovery: { ip: "127.0.0.1", udpPort },
      },
      tmp,
    );
    const running = await startServer(config, silentLogger);
    try {
      return parseEnr(running.enr!).seq;
    } finally {
      await running.stop();
    }
  }

  it("starts at 1, keeps it for the same record, moves on when the address changes, kept in the config's folder", async () => {
    const first = await freeTcpPort();
    expect(await seqAfterStart(first)).to.equal(1n);
    expect(await seqAfterStart(first)).to.equal(1n);
    const second = await freeTcpPort();
    expect(await seqAfterStart(second)).to.equal(2n);
    expect(await seqAfterStart(second)).to.equal(2n);
    expect(await seqAfterStart(first)).to.equal(3n);
    expect(JSON.parse(await readFile(path.join(tmp, "enr-seq.json"), "utf8")).seq).to.equal("3");
  });

  it("refuses to start over an unreadable sequence file, with one sentence", async () => {
    await writeFile(path.join(tmp, "enr-seq.json"), "garbage");
    const error = await seqAfterStart(await freeTcpPort()).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).to.match(/^cannot keep the ENR's sequence number: .*enr-seq\.json is not an ENR sequence file: delete it/);
  });
});
