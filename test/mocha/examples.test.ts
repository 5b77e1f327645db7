// The code README.md shows to each audience is the code of examples/*.ts: this test runs those
// examples against the project's own deployment and checks that README.md shows them verbatim.
import { expect } from "chai";
import { network } from "hardhat";
import { readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Wallet, hexlify, parseUnits, randomBytes } from "ethers";
import { CuratorClient, ProviderClient, buildNodeEnr, parseEnr, requestDigestOf, signRequest } from "@status/mailserver-sdk";
import { deployLocal } from "../../deploy/local.js";
import { appExample } from "../../examples/app.js";
import { serverExample } from "../../examples/server.js";
import { applyExample, operateExample } from "../../examples/provider.js";

const root = path.resolve(import.meta.dirname, "..", "..");

/** The lines between `// README:start[ name]` and `// README:end[ name]`, dedented. */
async function snippets(file: string): Promise<string[]> {
  const text = await readFile(path.join(root, file), "utf8");
  const found: string[] = [];
  const pattern = /\/\/ README:start[^\n]*\n([\s\S]*?)\n\s*\/\/ README:end/g;
  for (const match of text.matchAll(pattern)) {
    const lines = match[1].split("\n");
    const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length));
    found.push(lines.map((l) => l.slice(indent)).join("\n"));
  }
  return found;
}

describe("README examples", function () {
  this.timeout(120_000);

  it("README.md shows every example verbatim", async () => {
    const readme = await readFile(path.join(root, "README.md"), "utf8");
    for (const file of ["examples/app.ts", "examples/server.ts", "examples/provider.ts"]) {
      const found = await snippets(file);
      expect(found.length, file).to.be.greaterThan(0);
      for (const snippet of found) expect(readme, `README.md lacks the snippet of ${file}`).to.include(snippet);
    }
  });

  it("the provider, app and server examples work end to end", async () => {
    const connection = await network.create();
    const { ethers } = connection;
    const [deployer, acme, user] = await ethers.getSigners();
    const { addresses, chainId } = await deployLocal(connection);

    // Provider: apply, get approved, register a node, set its price.
    await applyExample(acme, addresses);
    await new CuratorClient({ runner: deployer, addresses }).approveProvider(acme.address);
    const acmeNode = await operateExample(acme, addresses, Wallet.createRandom().privateKey);

    // A node of the default provider, as discovery would return it, plus the other two.
    const key = Wallet.createRandom().privateKey;
    const enr = buildNodeEnr({ privateKey: key, ip: "127.0.0.1", udp: 30304, tcp: 30304 }).enr;
    const { nodeId } = await new ProviderClient({ runner: deployer, addresses }).addNode({ nodeKey: key, record: enr, pricePerMonth: parseUnits("10", 18) });
    const acmeEnr = (await new ProviderClient({ runner: deployer, addresses }).getNode(acmeNode))!.record;
    const stranger = buildNodeEnr({ privateKey: Wallet.createRandom().privateKey, ip: "127.0.0.1", udp: 30305 }).enr;

    // App: the default provider's node is the one the user may buy.
    const token = await ethers.getContractAt("SNTLikeToken", addresses.token);
    await (await token.generateTokens(user.address, parseUnits("100", 18))).wait();
    const client = Wallet.createRandom();
    const app = await appExample(ethers.provider, user, addresses, [acmeEnr, stranger, enr], client.address);
    expect(app.verified.map((v) => v.status)).to.deep.equal(["untrusted", "untrusted", "trusted"]);
    expect(app.bought.path).to.equal("approveAndCall");
    expect(app.status.active).to.equal(true);

    // Server: admit the subscriber, refuse a request over another connection; the index survives a restart.
    const indexFile = path.join(os.tmpdir(), `mailserver-index-${process.pid}-${Date.now()}.json`);
    try {
      const peerId = parseEnr(buildNodeEnr({ privateKey: client.privateKey, ip: "127.0.0.1", udp: 1 }).enr).peerId;
      const payload = "history since yesterday";
      // A client signs with its own clock, which is what the gate compares against.
      const now = Math.floor(Date.now() / 1000);
      const sign = () => signRequest(client, { nodeId, requestDigest: requestDigestOf(payload), peerId, nonce: hexlify(randomBytes(32)), issuedAt: now },
        { chainId, escrow: addresses.escrow });
      const allowed = await serverExample(ethers.provider, chainId, addresses.escrow, 0, nodeId, indexFile, await sign(), payload, peerId);
      expect(allowed.reason).to.equal("allowed");
      const other = await serverExample(ethers.provider, chainId, addresses.escrow, 0, nodeId, indexFile, await sign(), payload, "16Uiu2HAmSomeoneElse");
      expect(other.reason).to.equal("peer-mismatch");
    } finally {
      await rm(indexFile, { force: true });
    }
  });
});
