// A subscriber's two steps, as Hardhat tasks: pay for a node, then fetch messages from it with a
// Waku light node (@waku/sdk) that presents the subscription's access grant. For a provider to try
// its own node end to end; an app does the same with the SDK (README's client code).
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { formatUnits } from "ethers";
import { AccessSession, SubscriptionClient, accessGrantMaker, isSdkError, parseEnr, type ParsedEnr } from "@status/mailserver-sdk";
import { nodeIdArg, printTx, runTask, taskContext, TaskInputError, type CommonArgs } from "./context.js";

const CONNECT_TIMEOUT_MS = 20_000;
const GRANT_WAIT_MS = 30_000;

export async function subscribe(args: CommonArgs & { node: string; months: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    const nodeId = nodeIdArg(args.node);
    const months = Number(args.months);
    if (!Number.isInteger(months) || months < 1) throw new TaskInputError(`--months must be a whole number of months from 1 (got ${args.months})`);
    const ctx = await taskContext(args, hre);
    if (ctx.addresses.escrow === undefined) throw new TaskInputError(`no escrow known on ${ctx.networkName}: deploy first or pass --escrow`);
    const escrow = new SubscriptionClient({ runner: ctx.signer, addresses: ctx.addresses });
    const result = await escrow.subscribe({ nodeId, months });
    const status = await escrow.status(nodeId, await ctx.signer.getAddress());
    printTx(
      `subscribed ${await ctx.signer.getAddress()} to ${nodeId} for ${months} month(s), ${formatUnits(result.amount, 18)} SNT, until ${new Date(Number(status.expiresAt) * 1000).toISOString()}`,
      result.hash,
    );
  });
}

/**
 * Presents the grant; a server that has not read a fresh purchase yet (its index follows the
 * chain every `indexIntervalMs`) says `no-subscription`: ask again for a while before giving up.
 */
async function presentGrant(session: AccessSession, waitMs: number): Promise<{ until: number }> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await session.start();
    } catch (error) {
      const reason = isSdkError(error) && error.code === "ACCESS_REFUSED" ? String(error.details.reason) : undefined;
      if (reason === "no-subscription" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      if (reason !== undefined) {
        throw new TaskInputError(`the mail server refused the access grant (${reason})${reason === "no-subscription" ? ": this account has no active subscription to the node (npx hardhat client subscribe)" : ""}`);
      }
      throw error;
    }
  }
}

/** The node's dialable WebSocket address with its peer id, from its ENR. */
function dialAddress(enr: ParsedEnr): string {
  const ws = enr.multiaddrs.find((a) => /\/wss?(\/|$)/.test(a));
  if (ws === undefined) throw new TaskInputError("the ENR has no WebSocket address in multiaddrs: a Waku light node dials the mail server over WebSockets");
  return `${ws}/p2p/${enr.peerId}`;
}

export async function messages(
  args: CommonArgs & { enr: string; topic: string; send: string },
  hre: HardhatRuntimeEnvironment,
): Promise<void> {
  await runTask(async () => {
    if (args.enr === "") throw new TaskInputError("--enr is required: the mail server's ENR (enr:...)");
    if (!/^\/[^/]+\/[^/]+\/[^/]+\/[^/]+$/.test(args.topic)) {
      throw new TaskInputError(`--topic must be a Waku content topic such as /my-app/1/chat/proto (got ${args.topic})`);
    }
    const enr = parseEnr(args.enr);
    if (enr.shards === undefined || enr.shards.shards.length === 0) throw new TaskInputError("the ENR names no relay shards (rs): the mail server's config sets clusterId and shards");
    const address = dialAddress(enr);
    const ctx = await taskContext(args, hre);
    if (ctx.addresses.escrow === undefined) throw new TaskInputError(`no escrow known on ${ctx.networkName}: deploy first or pass --escrow`);

    // @waku/sdk's defaults do not fit a single mail server: no bootstrap fleet, its cluster,
    // and the server's plain ws:// address kept (it drops non-wss addresses by default).
    const { createLightNode, Protocols, bytesToUtf8, utf8ToBytes } = await import("@waku/sdk");
    const cluster = enr.shards.cluster;
    const shardId = enr.shards.shards[0]!;
    const waku = await createLightNode({ defaultBootstrap: false, networkConfig: { clusterId: cluster }, libp2p: { filterMultiaddrs: false } });
    try {
      await waku.start();
      try {
        await waku.dial(address);
        await waku.waitForPeers([Protocols.Store, Protocols.LightPush], CONNECT_TIMEOUT_MS);
      } catch (error) {
        throw new TaskInputError(`cannot reach the mail server at ${address}: is it running? (${(error as Error).message.split("\n")[0]})`);
      }
      const server = waku.libp2p.getConnections().find((c) => c.remotePeer.toString() === enr.peerId)?.remotePeer;
      if (server === undefined) throw new TaskInputError(`connected, but not to the ENR's peer ${enr.peerId}`);
      if (args.send !== "") {
        const sent = await waku.lightPush.send(waku.createEncoder({ contentTopic: args.topic, shardId }), { payload: utf8ToBytes(args.send) });
        const failure = sent.failures[0]?.error;
        // 505: the server relayed it to nobody (it has no relay peers yet, as on a lone local
        // node); it archived it all the same, as nwaku does with its own publishes.
        if (failure !== undefined && String(failure) !== "No relay peers available") throw new TaskInputError(`the mail server did not take the message: ${String(failure)}`);
        console.log(failure === undefined ? `sent "${args.send}" on ${args.topic}` : `sent "${args.send}" on ${args.topic}: stored by the mail server, which has no relay peers, so nobody else online received it`);
      }
      const session = new AccessSession({
        libp2p: waku.libp2p,
        peer: server,
        makeGrant: accessGrantMaker({ signer: ctx.signer, domain: { chainId: ctx.chainId, escrow: ctx.addresses.escrow }, nodeId: enr.nodeId }),
      });
      try {
        // Wait for the server's index only when the chain says the account has paid.
        const me = await ctx.signer.getAddress();
        const paid = (await new SubscriptionClient({ runner: ctx.signer, addresses: ctx.addresses }).status(enr.nodeId, me)).active;
        const accepted = await presentGrant(session, paid ? GRANT_WAIT_MS : 0);
        console.log(`access granted until ${new Date(accepted.until * 1000).toISOString()}`);
      } finally {
        session.stop();
      }
      const got: string[] = [];
      await waku.store.queryWithOrderedCallback([waku.createDecoder({ contentTopic: args.topic, shardId })], (message) => {
        got.push(bytesToUtf8(message.payload));
      });
      console.log(`${got.length} message(s) on ${args.topic}`);
      for (const text of got) console.log(`  ${text}`);
    } finally {
      await waku.stop();
    }
  });
}
