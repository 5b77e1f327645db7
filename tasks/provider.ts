import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { readFile } from "node:fs/promises";
import { formatUnits, isHexString, parseUnits } from "ethers";
import {
  ProviderClient,
  SubscriptionClient,
  kindCapability,
  nodeIdFromPrivateKey,
  parseEnr,
  PROBE_KIND_NAME,
  type ParsedEnr,
} from "@status/mailserver-sdk";
import { SubscriptionIndex } from "@status/mailserver-sdk/server";
import { address, kindArg, nodeIdArg, printTx, runTask, taskContext, TaskInputError, type CommonArgs, type TaskContext } from "./context.js";

const TOKEN_DECIMALS = 18;

function price(value: string): bigint {
  try {
    const amount = parseUnits(value, TOKEN_DECIMALS);
    if (amount < 0n) throw new Error("negative");
    return amount;
  } catch {
    throw new TaskInputError(`--price must be a token amount such as 25 or 0.5 (got ${value})`);
  }
}

const tokens = (amount: bigint) => `${formatUnits(amount, TOKEN_DECIMALS)} SNT`;

function clients(ctx: TaskContext) {
  const options = { runner: ctx.signer, addresses: ctx.addresses };
  return { registry: new ProviderClient(options), escrow: new SubscriptionClient(options) };
}

function requireEscrow(ctx: TaskContext): void {
  if (ctx.addresses.escrow === undefined) throw new TaskInputError(`no escrow known on chain ${ctx.chainId}: pass --escrow`);
}

/** Nodes are added only by an approved provider: the signer must be one (its address is returned), or the task says what to do first. */
async function requireApprovedProvider(ctx: TaskContext, registry: ProviderClient): Promise<string> {
  const me = await ctx.signer.getAddress();
  const info = await registry.getProvider(me);
  if (info === undefined) throw new TaskInputError(`${me} is not a provider: apply first (npx hardhat provider apply --name ... --network ${ctx.networkName})`);
  if (info.status !== "approved") {
    throw new TaskInputError(`provider ${me} is ${info.status}, not approved: a curator must approve it first (npx hardhat curator approve ${me} --network ${ctx.networkName})`);
  }
  return me;
}

export async function apply(
  args: CommonArgs & { name: string; uri: string; payout: string },
  hre: HardhatRuntimeEnvironment,
): Promise<void> {
  await runTask(async () => {
    if (args.name.trim() === "") throw new TaskInputError("--name is required");
    const ctx = await taskContext(args, hre);
    const payout = args.payout === "" ? undefined : address(args.payout, "--payout");
    const { registry } = clients(ctx);
    const me = await ctx.signer.getAddress();
    const existing = await registry.getProvider(me);
    if (existing !== undefined) {
      throw new TaskInputError(`${me} is already a provider ("${existing.name}", ${existing.status}): an account applies once; apply from another account with --account <index>`);
    }
    const result = await registry.applyAsProvider({ name: args.name, metadataURI: args.uri, payout });
    printTx(`applied as provider ${me} ("${args.name}"); pending until a curator approves`, result.hash);
  });
}

/**
 * A node key file holds the key as 0x-prefixed or bare hex: what `openssl rand -hex 32` writes,
 * and what nwaku's `--nodekey` takes (32 bytes hex).
 */
async function readNodeKey(file: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(file, "utf8")).trim();
  } catch {
    throw new TaskInputError(`cannot read node key file ${file}`);
  }
  const key = text.startsWith("0x") ? text : `0x${text}`;
  if (!isHexString(key, 32)) throw new TaskInputError(`${file} does not hold a 32-byte hex private key`);
  return key;
}

async function readEnr(value: string): Promise<ParsedEnr> {
  const text = value.startsWith("enr:") ? value : await readFile(value, "utf8").then((t) => t.trim(), () => {
    throw new TaskInputError(`--enr must be an ENR text (enr:...) or a file holding one: ${value}`);
  });
  return parseEnr(text); // throws INVALID_ENR with the reason
}

/** A Waku ENR must announce the capability the kind stands for (a mail server is a store node). */
function checkWakuKind(enr: ParsedEnr, kind: string, kindName: string): void {
  const needed = kindCapability(kind);
  if (enr.waku2 !== undefined && needed !== undefined && !enr.capabilities.includes(needed)) {
    throw new TaskInputError(`the ENR's waku2 (${enr.capabilities.join(", ") || "nothing"}) does not announce ${needed}, which a ${kindName} node serves`);
  }
}

export async function addNode(
  args: CommonArgs & { enr: string; keyFile: string; price: string; kind: string },
  hre: HardhatRuntimeEnvironment,
): Promise<void> {
  await runTask(async () => {
    if (args.enr === "" || args.keyFile === "") throw new TaskInputError("--enr and --key-file are required");
    const enr = await readEnr(args.enr);
    const nodeKey = await readNodeKey(args.keyFile);
    if (nodeIdFromPrivateKey(nodeKey) !== enr.nodeId) throw new TaskInputError(`${args.keyFile} holds the key of another node than the ENR's (${enr.nodeId})`);
    const kind = kindArg(args.kind);
    checkWakuKind(enr, kind, args.kind);
    const pricePerMonth = price(args.price);
    const ctx = await taskContext(args, hre);
    const { registry } = clients(ctx);
    await requireApprovedProvider(ctx, registry);
    if (!(await registry.isKindEnabled(kind))) throw new TaskInputError(`node kind ${args.kind} is not enabled in this registry: check its spelling`);
    const result = await registry.addNode({ nodeKey, record: enr.enr, pricePerMonth, kind });
    printTx(`added node ${result.nodeId} at ${tokens(pricePerMonth)} per month`, result.hash);
  });
}

/**
 * A quality probe is a registry node of kind `probe` (PROBE_KIND_NAME): its key signs the reports,
 * and apps count only reports of probes whose provider is approved. It sells nothing (price 0) and
 * listens for nothing, so its record is where its reports are served.
 */
export async function addProbe(args: CommonArgs & { keyFile: string; record: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    if (args.keyFile === "" || args.record === "") throw new TaskInputError("--key-file and --record are required");
    if (args.record.startsWith("enr:")) throw new TaskInputError("--record is where the probe's reports are served (an https:// URL), not an ENR");
    const nodeKey = await readNodeKey(args.keyFile);
    const ctx = await taskContext(args, hre);
    const { registry } = clients(ctx);
    const me = await requireApprovedProvider(ctx, registry);
    if (!(await registry.isKindEnabled(PROBE_KIND_NAME))) {
      throw new TaskInputError(`node kind ${PROBE_KIND_NAME} is not enabled in this registry: a curator enables it first (npx hardhat curator kind ${PROBE_KIND_NAME} --new --network ${ctx.networkName})`);
    }
    const existing = await registry.getNode(nodeIdFromPrivateKey(nodeKey));
    if (existing !== undefined) throw new TaskInputError(`node ${existing.nodeId} is already registered (${existing.status}, by ${existing.provider})`);
    const result = await registry.addNode({ nodeKey, record: args.record, pricePerMonth: 0n, kind: PROBE_KIND_NAME });
    printTx(`added probe ${result.nodeId}; apps that trust ${me} count its reports`, result.hash);
  });
}

export async function setPrice(
  args: CommonArgs & { node: string; price: string },
  hre: HardhatRuntimeEnvironment,
): Promise<void> {
  await runTask(async () => {
    const nodeId = nodeIdArg(args.node);
    const pricePerMonth = price(args.price);
    const ctx = await taskContext(args, hre);
    const { registry } = clients(ctx);
    const result = await registry.setNodePrice(nodeId, pricePerMonth);
    printTx(`set the price of ${nodeId} to ${tokens(pricePerMonth)} per month (existing subscriptions keep theirs)`, result.hash);
  });
}

export async function nodes(args: CommonArgs & { provider: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    const ctx = await taskContext(args, hre);
    requireEscrow(ctx);
    const { registry, escrow } = clients(ctx);
    const provider = args.provider === "" ? await ctx.signer.getAddress() : address(args.provider, "--provider");
    const ids = await registry.allNodesByProvider(provider);
    if (ids.length === 0) {
      console.log(`provider ${provider} has no nodes`);
      return;
    }
    const provider_ = ctx.signer.provider;
    if (provider_ === null) throw new TaskInputError("the account has no provider");
    const index = new SubscriptionIndex({
      provider: provider_,
      escrow: ctx.addresses.escrow!,
      chainId: ctx.chainId,
      startBlock: ctx.addresses.startBlock ?? 0,
      confirmations: 0,
      nodeIds: ids,
    });
    await index.sync();
    const now = BigInt((await provider_.getBlock("latest"))!.timestamp);
    for (const nodeId of ids) {
      const node = await registry.getNode(nodeId);
      const earnings = await escrow.nodeEarnings(nodeId);
      console.log(`node ${nodeId}  ${node?.status}  ${tokens(node?.pricePerMonth ?? 0n)}/month`);
      console.log(`  earned ${tokens(earnings.earned)}, withdrawable ${tokens(earnings.withdrawable)}, held ${tokens(earnings.unreleased)}`);
      const subscribers = index.entries().filter((e) => e.nodeId === nodeId.toLowerCase());
      if (subscribers.length === 0) console.log("  no subscribers");
      for (const s of subscribers) {
        const state = s.expiresAt > now ? "active " : "expired";
        console.log(`  ${state}  client ${s.clientId}  owner ${s.owner}  until ${new Date(Number(s.expiresAt) * 1000).toISOString()}`);
      }
    }
  });
}

export async function withdraw(args: CommonArgs & { node: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    const ctx = await taskContext(args, hre);
    requireEscrow(ctx);
    const { registry, escrow } = clients(ctx);
    const me = await ctx.signer.getAddress();
    const ids = args.node === "" ? await escrow.soldNodes(me) : [nodeIdArg(args.node)];
    let paid = 0;
    for (const nodeId of ids) {
      const { withdrawable } = await escrow.nodeEarnings(nodeId);
      if (withdrawable === 0n) continue;
      const result = await escrow.withdraw(nodeId);
      printTx(`withdrew ${tokens(result.amount)} earned by ${nodeId} to ${result.payout ?? "the payout address"}`, result.hash);
      paid++;
    }
    if (paid === 0) console.log(`nothing to withdraw for ${me}${(await registry.getProvider(me)) ? "" : " (not a provider)"}`);
  });
}
