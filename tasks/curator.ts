import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { Contract, keccak256, toUtf8Bytes } from "ethers";
import { CuratorClient, SubscriptionClient, type ProviderInfo, type WriteResult } from "@status/mailserver-sdk";
import { address, kindArg, printTx, runTask, taskContext, TaskInputError, type CommonArgs } from "./context.js";

/** The caller's context and a curator client, or a one-line refusal when it is not a curator. */
async function asCurator(args: CommonArgs, hre: HardhatRuntimeEnvironment) {
  const ctx = await taskContext(args, hre);
  const client = new CuratorClient({ runner: ctx.signer, addresses: ctx.addresses });
  const me = await ctx.signer.getAddress();
  if (!(await client.isCurator(me))) throw new TaskInputError(`${me} is not a curator of this registry`);
  return { ctx, client };
}

/** Every provider the registry knows, with its record. */
async function providerInfos(args: CommonArgs, hre: HardhatRuntimeEnvironment): Promise<{ infos: ProviderInfo[]; client: CuratorClient }> {
  const ctx = await taskContext(args, hre);
  const client = new CuratorClient({ runner: ctx.signer, addresses: ctx.addresses });
  const infos: ProviderInfo[] = [];
  for (const account of await client.allProviders()) {
    const info = await client.getProvider(account);
    if (info !== undefined) infos.push(info);
  }
  return { infos, client };
}

export async function pending(args: CommonArgs, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    const rows = (await providerInfos(args, hre)).infos.filter((p) => p.status === "pending");
    if (rows.length === 0) {
      console.log("no pending providers");
      return;
    }
    console.log(`${rows.length} pending provider(s):`);
    for (const p of rows) console.log(`  ${p.address}  ${p.name}  ${p.metadataURI}`);
  });
}

export async function providers(args: CommonArgs, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    const { infos, client } = await providerInfos(args, hre);
    const defaultProvider = await client.defaultProvider();
    for (const p of infos) {
      const mark = p.address === defaultProvider ? " (default)" : "";
      console.log(`  ${p.address}  ${p.status.padEnd(9)}  ${String(p.nodeCount).padStart(3)} node(s)  ${p.name}${mark}`);
    }
  });
}

type ProviderArgs = CommonArgs & { provider: string; reason: string };
type Status = ProviderInfo["status"];

/**
 * A curator's action on one provider: the address is checked and the provider must be known and
 * in the status the action starts from before anything is sent, so a typo or a stale command gets
 * a one-line refusal rather than a reverted transaction.
 */
function onProvider(
  done: string,
  from: readonly Status[],
  send: (client: CuratorClient, provider: string, reason: string) => Promise<WriteResult>,
) {
  return (args: ProviderArgs, hre: HardhatRuntimeEnvironment): Promise<void> =>
    runTask(async () => {
      const provider = address(args.provider, "provider");
      const { client } = await asCurator(args, hre);
      const info = await client.getProvider(provider);
      if (info === undefined) throw new TaskInputError(`unknown provider ${provider}: npx hardhat curator providers lists them`);
      if (!from.includes(info.status)) {
        throw new TaskInputError(`provider ${provider} is ${info.status}: only a provider that is ${from.join(" or ")} can be ${done}`);
      }
      printTx(`${done} provider ${provider}`, (await send(client, provider, args.reason)).hash);
    });
}

export const approve = onProvider("approved", ["pending"], (client, provider) => client.approveProvider(provider));
export const suspend = onProvider("suspended", ["approved"], (client, provider, reason) => client.suspendProvider(provider, reason));
export const reinstate = onProvider("reinstated", ["suspended"], (client, provider) => client.reinstateProvider(provider));
export const remove = onProvider("removed", ["pending", "approved", "suspended"], (client, provider, reason) => client.removeProvider(provider, reason));

export async function kind(
  args: CommonArgs & { kind: string; disable: boolean; new: boolean },
  hre: HardhatRuntimeEnvironment,
): Promise<void> {
  await runTask(async () => {
    const id = kindArg(args.kind);
    const { client } = await asCurator(args, hre);
    const enabled = !args.disable;
    const now = await client.isKindEnabled(id);
    if (now === enabled) throw new TaskInputError(`kind ${args.kind} is already ${enabled ? "enabled" : "disabled"}`);
    // A typo must not create a kind on chain: enabling a kind that is not enabled now takes --new.
    if (enabled && !args.new) {
      throw new TaskInputError(`kind ${args.kind} is not enabled in this registry: check its spelling, or pass --new to enable it as a new kind`);
    }
    const result = await client.setKindEnabled(id, enabled);
    printTx(`${enabled ? "enabled" : "disabled"} kind ${args.kind} (${id})`, result.hash);
  });
}

export async function pause(args: CommonArgs & { unpause: boolean }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    const { ctx } = await asCurator(args, hre);
    if (ctx.addresses.escrow === undefined) throw new TaskInputError(`no escrow known on chain ${ctx.chainId}: pass --escrow`);
    const escrow = new SubscriptionClient({ runner: ctx.signer, addresses: ctx.addresses });
    const result = args.unpause ? await escrow.unpause() : await escrow.pause();
    printTx(args.unpause ? "unpaused the escrow" : "paused the escrow (refunds and withdrawals keep working)", result.hash);
  });
}

const CURATOR_ROLE = keccak256(toUtf8Bytes("CURATOR_ROLE"));
const ROLE_ABI = [
  "function getRoleAdmin(bytes32 role) view returns (bytes32)",
  "function hasRole(bytes32 role, address account) view returns (bool)",
];

export async function grant(args: CommonArgs & { to: string; revoke: boolean }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    const account = address(args.to, "account");
    const ctx = await taskContext(args, hre);
    // Granting and revoking need the curator role's admin role (the registry's admin), not the
    // curator role itself: check that one, so that a curator who is not the admin gets a clear
    // refusal before anything is sent (and a non-curator is not told it lacks the curator role).
    const me = await ctx.signer.getAddress();
    const registry = new Contract(ctx.addresses.registry!, ROLE_ABI, ctx.signer);
    const adminRole: string = await registry.getRoleAdmin(CURATOR_ROLE);
    if (!(await registry.hasRole(adminRole, me))) {
      throw new TaskInputError(`${me} is not the admin of this registry: only the admin grants or revokes the curator role`);
    }
    const client = new CuratorClient({ runner: ctx.signer, addresses: ctx.addresses });
    const result = args.revoke ? await client.revokeCurator(account) : await client.grantCurator(account);
    printTx(`${args.revoke ? "revoked the curator role from" : "granted the curator role to"} ${account}`, result.hash);
  });
}
