// A provider's whole path on a local chain, run as server/README.md gives it: its commands and its
// mailserver.json are read from the README and run one by one (placeholders filled from what the
// earlier commands printed; ports made free ones): node key, registration from the node's own ENR,
// test SNT, a paid subscription, the server serving, and a client fetching its messages.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, hardhat, ROOT, startHardhatNode, type CliResult, type LocalNode } from "../helpers/hardhatCli.js";
import { readmeInstallCommand } from "../helpers/readme.js";
import { startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";

const run = promisify(execFile);
const LOCAL_RECORD = path.join(ROOT, "deploy", "deployments", "31337.json");

/** The README section's code blocks: the commands (comments dropped) and mailserver.json. */
async function readmePath(): Promise<{ commands: string[]; config: string }> {
  const readme = await readFile(path.join(ROOT, "server", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## From clone to a paid, serving node"));
  const sh = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  const json = /```json\n([\s\S]*?)```/.exec(section)?.[1];
  if (sh === undefined || json === undefined) throw new Error("server/README.md has no provider path");
  const commands = sh.split("\n").map((line) => line.replace(/\s+#.*$/, "").trim()).filter((line) => line !== "");
  return { commands, config: json };
}

/** A command line's words, with "double quoted" words kept whole. */
function words(command: string): string[] {
  return [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

describe("a provider's path as server/README.md gives it", function () {
  this.timeout(600_000);
  let tmp: string;
  let chain: LocalNode | undefined;
  let server: ServerProcess | undefined;
  let commands: string[];
  const filled = new Map<string, string>();

  const describeRun = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

  /** The README's command starting with `prefix` (exactly one), its placeholders filled, as words. */
  const step = (prefix: string): string[] => {
    const matching = commands.filter((c) => c.startsWith(prefix));
    expect(matching, prefix).to.have.length(1);
    let command = matching[0]!;
    for (const placeholder of command.match(/<[^>]+>/g) ?? []) {
      const value = filled.get(placeholder);
      if (value === undefined) throw new Error(`nothing printed yet fills ${placeholder} in: ${command}`);
      command = command.replace(placeholder, value);
    }
    const argv = words(command);
    // Files the README names relative to the clone live in this test's folder.
    return argv.map((word) => (word === "mailserver.json" || word === "node.key" ? path.join(tmp, word) : word));
  };

  /** `npx hardhat ...` from the README against the test's chain; must succeed. */
  const hardhatStep = async (prefix: string): Promise<string> => {
    const argv = step(prefix);
    expect(argv.slice(0, 2)).to.deep.equal(["npx", "hardhat"]);
    const r = await hardhat(argv.slice(2), { LOCALHOST_RPC_URL: chain!.url });
    expect(r.code, describeRun(r)).to.equal(0);
    expect(r.errorLines, describeRun(r)).to.deep.equal([]);
    return r.stdout;
  };

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "provider-path-"));
    ({ commands } = await readmePath());
  });
  after(async function () {
    this.timeout(60_000);
    await server?.stop("SIGKILL");
    await chain?.stop();
    const record = await readFile(LOCAL_RECORD, "utf8").then((text) => JSON.parse(text) as { escrow?: string }, () => undefined);
    if (record !== undefined && record.escrow === filled.get("<escrow address>")) await rm(LOCAL_RECORD, { force: true });
    await rm(tmp, { recursive: true, force: true });
  });

  it("goes from clone to a registered, paid, serving node and a client reading its messages", async () => {
    // Install: the root README's command (what .ci/run runs on a clean clone before this suite).
    expect(commands[0]).to.equal(await readmeInstallCommand());
    // A local chain: `npx hardhat node`, on a free port.
    expect(commands[1]).to.equal("npx hardhat node");
    chain = await startHardhatNode(60_000);

    // `hardhat test` compiled already: the deployment runs without recompiling under the tests.
    const deployArgv = step("npx hardhat run deploy/deploy.ts");
    const deployed = await hardhat([...deployArgv.slice(2, 3), "--no-compile", ...deployArgv.slice(3)], { LOCALHOST_RPC_URL: chain.url });
    expect(deployed.code, describeRun(deployed)).to.equal(0);
    const escrow = /^escrow\s+(0x[0-9a-fA-F]{40})$/m.exec(deployed.stdout)?.[1];
    expect(escrow, deployed.stdout).to.be.a("string");
    filled.set("<escrow address>", escrow!);

    // mailserver.json as the README gives it: the escrow filled in, the ports made free ones.
    const { config } = await readmePath();
    const [tcp, ws, udp] = await Promise.all([freePort(), freePort(), freePort()]);
    const text = config
      .replace("<escrow address>", escrow!)
      .replace("/tcp/60000", `/tcp/${tcp}`)
      .replace("/tcp/8000/ws", `/tcp/${ws}/ws`)
      .replace('"udpPort": 9000', `"udpPort": ${udp}`)
      .replace("http://127.0.0.1:8545", chain.url);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed.chainId).to.equal(31337);
    expect(parsed.confirmations, "the local default (0) is what the README relies on").to.equal(undefined);
    await writeFile(path.join(tmp, "mailserver.json"), text);

    // The node key: made once, printed with its peer id, node id and ENR.
    const keyArgv = step("npx mailserver-node key");
    const made = await run(keyArgv[0]!, keyArgv.slice(1), { cwd: ROOT });
    const printed = (label: string) => new RegExp(`^${label}\\s+(\\S+)`, "m").exec(made.stdout)?.[1];
    expect(made.stdout).to.match(/^node key\s+.*node\.key \(new: keep it secret/m);
    const [peerId, nodeId, enr] = [printed("peer id"), printed("node id"), printed("enr")];
    expect(peerId).to.match(/^16Uiu2/);
    expect(nodeId).to.match(/^0x[0-9a-f]{64}$/);
    expect(enr).to.match(/^enr:/);
    expect((await stat(path.join(tmp, "node.key"))).mode & 0o777, "node key readable by its owner only").to.equal(0o600);
    const again = await run(keyArgv[0]!, keyArgv.slice(1), { cwd: ROOT });
    expect(again.stdout).to.match(/\(existing\)/).and.include(`node id   ${nodeId}`).and.include(`enr       ${enr}`);
    filled.set("<enr>", enr!);
    filled.set("<node id>", nodeId!);

    // Provider: apply (account 1), approved by the curator (account 0), registers the node's ENR.
    const applied = await hardhatStep("npx hardhat provider apply");
    const provider = /applied as provider (0x[0-9a-fA-F]{40})/.exec(applied)?.[1];
    expect(provider, applied).to.be.a("string");
    filled.set("<provider address>", provider!);
    expect(await hardhatStep("npx hardhat curator approve")).to.match(new RegExp(`^approved provider ${provider}$`, "m"));
    expect(await hardhatStep("npx hardhat provider add-node")).to.match(new RegExp(`^added node ${nodeId} at 25\\.0 SNT per month$`, "m"));

    // Serve: the node announces the very ENR registered; its index waits for no confirmations here.
    const serveArgv = step("npx mailserver-node --config");
    expect(serveArgv.slice(0, 3)).to.deep.equal(["npx", "mailserver-node", "--config"]);
    server = startServerProcess(serveArgv[3]!);
    const serving = await server.waitFor("serving", 60_000);
    expect(serving).to.include({ peerId, nodeId, enr, chainId: 31337, escrow });
    expect(await server.waitFor("index-waits")).to.include({ confirmations: 0 });

    // A subscriber: test SNT, one month paid, then its messages through a @waku/sdk light node.
    expect(await hardhatStep("npx hardhat token mint")).to.match(/^minted 1000\.0 test SNT to 0x[0-9a-fA-F]{40} \(balance 1000\.0 SNT\)$/m);
    expect(await hardhatStep("npx hardhat client subscribe")).to.match(new RegExp(`^subscribed 0x[0-9a-fA-F]{40} to ${nodeId} for 1 month\\(s\\), 25\\.0 SNT, until `, "m"));
    const fetched = await hardhatStep("npx hardhat client messages");
    expect(fetched).to.match(/^sent "hello" on \/mailserver-try\/1\/chat\/proto$/m);
    expect(fetched).to.match(/^access granted until \d{4}-/m);
    expect(fetched).to.match(/^1 message\(s\) on \/mailserver-try\/1\/chat\/proto\n {2}hello$/m);
    expect(server.events.some((e) => e.event === "grant-accepted")).to.equal(true);

    // Someone who has not paid (account 3) is refused, in one sentence.
    const stranger = step("npx hardhat client messages").map((word) => (word === "2" ? "3" : word));
    const refused = await hardhat(stranger.slice(2), { LOCALHOST_RPC_URL: chain.url });
    expect(refused.code, describeRun(refused)).to.not.equal(0);
    expect(refused.errorLines, describeRun(refused)).to.have.length(1);
    expect(refused.errorLines[0]).to.equal(
      "Error: the mail server refused the access grant (no-subscription): this account has no active subscription to the node (npx hardhat client subscribe)",
    );
  });
});
