import { createRequire } from "node:module";
import { configVariable, defineConfig, emptyTask, task } from "hardhat/config";
import hardhatToolboxMochaEthers from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

// The compiler comes from the `solc` npm package so that building never downloads anything.
// Its version must equal the installed package's version.
const require = createRequire(import.meta.url);
const solcVersion: string = require("solc/package.json").version;
const deepTests = process.env.MAILSERVER_TEST_PROFILE === "deep";

// Options every curator/provider task takes: where the contracts are and which account signs.
function withCommon<T extends ReturnType<typeof task>>(builder: T) {
  return builder
    .addOption({ name: "registry", description: "Registry address (default: the known deployment)", defaultValue: "" })
    .addOption({ name: "escrow", description: "Escrow address (default: the known deployment)", defaultValue: "" })
    .addOption({ name: "account", description: "Index of the signing account (default: 0)", defaultValue: "" });
}

// Task modules load only when a task runs, so the config stays fast to load. Each action
// validates its own arguments (they arrive as the strings and flags declared below).
type TaskAction = (args: Record<string, unknown>, hre: HardhatRuntimeEnvironment) => Promise<void>;
const lazy = (load: () => Promise<object>, name: string) => async () => ({
  default: ((await load()) as Record<string, TaskAction>)[name],
});
const curator = (name: string) => lazy(() => import("./tasks/curator.js"), name);
const provider = (name: string) => lazy(() => import("./tasks/provider.js"), name);
const dnsTree = lazy(() => import("./tasks/dnsTree.js"), "dnsTree");
const token = (name: string) => lazy(() => import("./tasks/token.js"), name);
const client = (name: string) => lazy(() => import("./tasks/client.js"), name);

const tasks = [
  emptyTask("curator", "Curate the mail-server registry: providers, node kinds, pause").build(),
  withCommon(task(["curator", "pending"], "List providers waiting for approval")).setAction(curator("pending")).build(),
  withCommon(task(["curator", "providers"], "List every provider with its status")).setAction(curator("providers")).build(),
  ...(["approve", "suspend", "reinstate", "remove"] as const).map((action) =>
    withCommon(task(["curator", action], `${action[0].toUpperCase()}${action.slice(1)} a provider`))
      .addPositionalArgument({ name: "provider", description: "Provider address" })
      .addOption({ name: "reason", description: "Reason recorded in the event", defaultValue: "" })
      .setAction(curator(action))
      .build(),
  ),
  withCommon(task(["curator", "kind"], "Enable (or --disable: retires its nodes, as a removal) a node kind"))
    .addPositionalArgument({ name: "kind", description: "Kind name (e.g. mailserver) or bytes32 id" })
    .addFlag({ name: "disable", description: "Disable instead of enable" })
    .addFlag({ name: "new", description: "Confirm enabling a kind that is not enabled now (a new name, or one disabled before)" })
    .setAction(curator("kind"))
    .build(),
  withCommon(task(["curator", "pause"], "Pause (or --unpause) purchases and renewals in the escrow"))
    .addFlag({ name: "unpause", description: "Unpause instead" })
    .setAction(curator("pause"))
    .build(),
  withCommon(task(["curator", "grant"], "Grant (or --revoke) the curator role (admin only)"))
    .addPositionalArgument({ name: "to", description: "Account address" })
    .addFlag({ name: "revoke", description: "Revoke instead" })
    .setAction(curator("grant"))
    .build(),

  emptyTask("provider", "Run nodes as a provider: apply, add nodes, set prices, withdraw").build(),
  withCommon(task(["provider", "apply"], "Apply as a provider (pending until a curator approves)"))
    .addOption({ name: "name", description: "Provider name", defaultValue: "" })
    .addOption({ name: "uri", description: "Metadata URI", defaultValue: "" })
    .addOption({ name: "payout", description: "Payout address (default: the account)", defaultValue: "" })
    .setAction(provider("apply"))
    .build(),
  withCommon(task(["provider", "add-node"], "Register a node from its ENR and node key file"))
    .addOption({ name: "enr", description: "ENR text or a file holding it", defaultValue: "" })
    .addOption({ name: "keyFile", description: "File holding the node's private key (hex)", defaultValue: "" })
    .addOption({ name: "price", description: "Price per 30 days in SNT (e.g. 25)", defaultValue: "0" })
    .addOption({ name: "kind", description: "Node kind", defaultValue: "mailserver" })
    .setAction(provider("addNode"))
    .build(),
  withCommon(task(["provider", "add-probe"], "Register a quality probe (node kind probe) from its node key file"))
    .addOption({ name: "keyFile", description: "File holding the probe's private key (hex), as mailserver-probe key made it", defaultValue: "" })
    .addOption({ name: "record", description: "Where the probe's reports are served (e.g. https://probe.example/reports)", defaultValue: "" })
    .setAction(provider("addProbe"))
    .build(),
  withCommon(task(["provider", "set-price"], "Set a node's monthly price"))
    .addPositionalArgument({ name: "node", description: "Node id" })
    .addPositionalArgument({ name: "price", description: "Price per 30 days in SNT" })
    .setAction(provider("setPrice"))
    .build(),
  withCommon(task(["provider", "nodes"], "List a provider's nodes, earnings and subscribers"))
    .addOption({ name: "provider", description: "Provider address (default: the account)", defaultValue: "" })
    .setAction(provider("nodes"))
    .build(),
  withCommon(task(["provider", "withdraw"], "Withdraw earnings to the payout address"))
    .addOption({ name: "node", description: "Only this node (default: every node with earnings)", defaultValue: "" })
    .setAction(provider("withdraw"))
    .build(),

  emptyTask("token", "Test SNT on a local chain").build(),
  withCommon(task(["token", "mint"], "Mint test SNT on a local chain (31337) to an address or account index"))
    .addOption({ name: "to", description: "Recipient: an address or an account index", defaultValue: "" })
    .addOption({ name: "amount", description: "Amount in SNT (e.g. 1000)", defaultValue: "1000" })
    .setAction(token("mint"))
    .build(),

  emptyTask("client", "Try a mail server as a subscriber: pay for it, fetch messages from it").build(),
  withCommon(task(["client", "subscribe"], "Pay for a node for some months (the account is the client)"))
    .addOption({ name: "node", description: "Node id", defaultValue: "" })
    .addOption({ name: "months", description: "Months to pay for", defaultValue: "1" })
    .setAction(client("subscribe"))
    .build(),
  withCommon(task(["client", "messages"], "Fetch the messages of a content topic from a mail server, presenting the account's access grant"))
    .addOption({ name: "enr", description: "The mail server's ENR (enr:...)", defaultValue: "" })
    .addOption({ name: "topic", description: "Content topic", defaultValue: "/mailserver-try/1/chat/proto" })
    .addOption({ name: "send", description: "Lightpush this text first", defaultValue: "" })
    .setAction(client("messages"))
    .build(),

  withCommon(task("dns-tree", "Build and sign an EIP-1459 DNS tree of node ENRs; print it as zone-file TXT records"))
    .addOption({ name: "domain", description: "Domain the tree is published under (e.g. nodes.example.org)", defaultValue: "" })
    .addOption({ name: "seq", description: "Root sequence number: bump it on every publication", defaultValue: "" })
    .addOption({ name: "kind", description: "Registry kind of the trusted nodes to include", defaultValue: "mailserver" })
    .addOption({ name: "enrs", description: "File with more ENRs, one per line", defaultValue: "" })
    .addOption({ name: "link", description: "enrtree:// URLs of other trees to link, comma separated", defaultValue: "" })
    .addOption({ name: "keyFile", description: "File holding the tree's signing key (hex); default: configuration variable DNS_TREE_KEY", defaultValue: "" })
    .addOption({ name: "out", description: "Write the zone file here instead of stdout", defaultValue: "" })
    .addFlag({ name: "noRegistry", description: "Do not read the registry: only --enrs and --link" })
    .setAction(dnsTree)
    .build(),
];

const compiler = {
  version: solcVersion,
  path: require.resolve("solc/soljson.js"),
  settings: {
    optimizer: { enabled: true, runs: 4_000 },
    evmVersion: "cancun",
  },
};

export default defineConfig({
  plugins: [hardhatToolboxMochaEthers],
  tasks,
  solidity: {
    compilers: [compiler],
    // The escrow runs on every purchase and asks the registry each time: the IR pipeline saves
    // users 1,000-3,000 gas per call (npm run bench:gas). Only there, since it is several times
    // slower to compile.
    overrides: {
      "contracts/SubscriptionEscrow.sol": { ...compiler, settings: { ...compiler.settings, viaIR: true } },
      "contracts/MailServerRegistry.sol": { ...compiler, settings: { ...compiler.settings, viaIR: true } },
    },
  },
  paths: {
    tests: {
      solidity: "./test/solidity",
      mocha: "./test/mocha",
    },
  },
  typechain: {
    // The SDK ships these types; generated on every compile, never edited by hand.
    outDir: "sdk/src/typechain",
    // Generated code is not held to the project's lint rules (e.g. unused imports).
    tsNocheck: true,
  },
  test: {
    // `npm run test:deep` (MAILSERVER_TEST_PROFILE=deep): 10,000 fuzz runs and 1,000 x 100 =
    // 100,000 handler calls per invariant; CI and `npm test` run the quick profile.
    solidity: deepTests
      ? { fuzz: { runs: 10_000 }, invariant: { runs: 1_000, depth: 100, failOnRevert: false } }
      : { fuzz: { runs: 256 }, invariant: { runs: 64, depth: 32, failOnRevert: false } },
    mocha: { timeout: 120_000 },
  },
  networks: {
    default: {
      type: "edr-simulated",
      chainType: "l1",
    },
    localhost: {
      type: "http",
      chainType: "l1",
      // Tests start their own node on a free port and point this network at it.
      url: process.env.LOCALHOST_RPC_URL ?? "http://127.0.0.1:8545",
    },
    sepolia: {
      type: "http",
      chainType: "l1",
      url: configVariable("SEPOLIA_RPC_URL"),
      accounts: [configVariable("SEPOLIA_PRIVATE_KEY")],
    },
    mainnet: {
      type: "http",
      chainType: "l1",
      url: configVariable("MAINNET_RPC_URL"),
      accounts: [configVariable("MAINNET_PRIVATE_KEY")],
    },
  },
});
