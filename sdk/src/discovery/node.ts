// Running discv5 nodes: a mail server's own node (announcing its kind) and ephemeral client nodes.
import { Discv5, Lookup, type IDiscv5CreateOptions } from "@chainsafe/discv5";
import type { ENR } from "@chainsafe/enr";
import { ENR as ENRClass, SignableENR } from "@chainsafe/enr";
import { privateKeyFromRaw } from "@libp2p/crypto/keys";
import { multiaddr } from "@multiformats/multiaddr";
import { randomBytes } from "node:crypto";
import { buildNodeEnr, type BuildNodeEnrOptions } from "../sources/publish.js";
import { findFreeUdpPort } from "./udp.js";
import { parseEnr } from "../enr.js";
import { nodeIdFromPrivateKey } from "../nodeKey.js";
import { enrNodeId, invalidArgument, privateKeyBytes } from "../sources/util.js";

/** discv5 settings (`requestTimeout`, `lookupTimeout`, `pingInterval`, `enrUpdate`, ...). */
export type Discv5ConfigOverrides = NonNullable<IDiscv5CreateOptions["config"]>;

/**
 * The events of a discv5 node used here. (`Discv5`'s own event typing comes from a package whose
 * types do not resolve under `moduleResolution: node16`, so they are restated.)
 */
export interface Discv5Events {
  on(event: "discovered" | "enrAdded", listener: (enr: ENR) => void): unknown;
  off(event: "discovered" | "enrAdded", listener: (enr: ENR) => void): unknown;
}

/** A running discv5 node. */
export interface Discv5Handle {
  /** The node's current ENR text. */
  readonly enr: string;
  /** 0x-prefixed node id. */
  readonly nodeId: string;
  /** The UDP port asked for (0 when the OS chose it: ephemeral client nodes). */
  readonly port: number;
  /** The underlying `@chainsafe/discv5` service, for anything this SDK does not wrap. */
  readonly discv5: Discv5;
  /** The same service, typed for its `discovered` / `enrAdded` events. */
  readonly events: Discv5Events;
  /** Runs one random-target lookup (refreshes the routing table, makes the node known); resolves to the ENRs found. */
  lookup(): Promise<ENR[]>;
  /** Adds ENRs (text) to the routing table; invalid ones are returned, not thrown. */
  addEnrs(enrs: readonly string[]): { added: number; invalid: { enr: string; error: string }[] };
  /** Stops the node and closes its socket (idempotent). */
  stop(): Promise<void>;
}

export interface StartMailserverDiscoveryOptions {
  /** The node key (secp256k1): the mail server's identity. */
  privateKey: string | Uint8Array;
  /** IP announced in the ENR and bound (unless `bindIp` is given). */
  ip: string;
  /** UDP port announced and bound; 0 picks a free port first. */
  port: number;
  /** Address to bind (default: `ip`). */
  bindIp?: string;
  /** Optional TCP port announced in the ENR (the mail server's own protocol port). */
  tcp?: number;
  /** Service kind(s) announced (default `"mailserver"`: the `waku2` store bit). */
  kind?: string | readonly string[];
  /** More Waku capabilities for `waku2` (see `buildNodeEnr`). */
  capabilities?: BuildNodeEnrOptions["capabilities"];
  /** Dialable addresses for the `multiaddrs` key (see `buildNodeEnr`). */
  multiaddrs?: BuildNodeEnrOptions["multiaddrs"];
  /** Relay cluster and shards for `rs` (see `buildNodeEnr`). */
  shards?: BuildNodeEnrOptions["shards"];
  /** ENR sequence number (default 1): bump when the endpoint changes. */
  seq?: bigint;
  /** Boot nodes' ENR text. */
  bootEnrs?: readonly string[];
  /** discv5 settings (defaults here: `enrUpdate: false` so the announced record stays as published). */
  config?: Discv5ConfigOverrides;
  /**
   * A random lookup runs right after start (when boot ENRs are given) and then every
   * `lookupIntervalMs` (default 60000; 0 disables the repeat), so the node gets known to the
   * network and its table stays fresh. The timer never keeps the process alive.
   */
  lookupIntervalMs?: number;
}

export interface MailserverDiscoveryHandle extends Discv5Handle {
  /** Kind ids announced by the node. */
  readonly kinds: string[];
}

/**
 * Runs a mail server's discv5 node: its ENR carries the node's endpoint and what it serves
 * (`waku2`, see `buildNodeEnr`), so crawlers can find it; boot ENRs seed its routing table.
 */
export async function startMailserverDiscovery(options: StartMailserverDiscoveryOptions): Promise<MailserverDiscoveryHandle> {
  const bindIp = options.bindIp ?? options.ip;
  const port = options.port === 0 ? await findFreeUdpPort(bindIp) : options.port;
  const built = buildNodeEnr({
    privateKey: options.privateKey,
    ip: options.ip,
    udp: port,
    ...(options.tcp !== undefined ? { tcp: options.tcp } : {}),
    ...(options.kind !== undefined ? { kind: options.kind } : {}),
    ...(options.seq !== undefined ? { seq: options.seq } : {}),
    ...(options.capabilities !== undefined ? { capabilities: options.capabilities } : {}),
    ...(options.multiaddrs !== undefined ? { multiaddrs: options.multiaddrs } : {}),
    ...(options.shards !== undefined ? { shards: options.shards } : {}),
  });
  const handle = await startDiscv5Node({
    privateKey: options.privateKey,
    enr: built.enr,
    bindIp,
    port,
    config: { enrUpdate: false, ...options.config },
  });
  const boot = handle.addEnrs(options.bootEnrs ?? []);
  const background = () => {
    handle.lookup().catch(() => undefined);
  };
  if (boot.added > 0) background();
  const every = options.lookupIntervalMs ?? 60_000;
  if (every > 0) {
    const timer = setInterval(background, every);
    timer.unref?.();
    const stop = handle.stop;
    handle.stop = () => {
      clearInterval(timer);
      return stop();
    };
  }
  return Object.assign(handle, { kinds: built.kinds });
}

export interface StartDiscv5NodeOptions {
  /** Node key; default a fresh random key (an ephemeral client identity). */
  privateKey?: string | Uint8Array;
  /** ENR to run with, text (e.g. from `buildNodeEnr`) or signable record, signed by `privateKey`; default a bare ENR without an endpoint. */
  enr?: string | SignableENR;
  /** Address to bind the UDP socket to. Default "0.0.0.0"; tests pass "127.0.0.1". */
  bindIp?: string;
  /** UDP port; 0 (default) lets the OS choose. A node whose ENR has no endpoint can still query others. */
  port?: number;
  config?: Discv5ConfigOverrides;
}

let lookupTimerPatched = false;

/**
 * @chainsafe/discv5 11.0.0 leaves a lookup's `lookupTimeout` timer (60 s by default) running when
 * the lookup finishes on its own, so every lookup keeps the process alive that long after it is
 * done (the timer then calls a no-op). Unref that timer: it still fires while the process runs.
 */
function patchLookupTimer(): void {
  if (lookupTimerPatched) return;
  lookupTimerPatched = true;
  const proto = Lookup.prototype as unknown as { start(): void; timeout?: unknown };
  const start = proto.start;
  proto.start = function (this: { timeout?: unknown }) {
    start.call(this);
    const timer = this.timeout as { unref?: () => void } | undefined;
    timer?.unref?.();
  };
}

function signableFromText(text: string, key: Uint8Array): SignableENR {
  parseEnr(text); // the SDK's validity rule and error (INVALID_ENR)
  const enr = SignableENR.decodeTxt(text.trim(), key);
  if (enrNodeId(enr) !== nodeIdFromPrivateKey(key)) throw invalidArgument("the ENR is not signed by the node's private key");
  return enr;
}

/** Starts a discv5 node. Used for mail-server nodes, crawlers and the RTT probe. */
export async function startDiscv5Node(options: StartDiscv5NodeOptions = {}): Promise<Discv5Handle> {
  patchLookupTimer();
  const key = options.privateKey !== undefined ? privateKeyBytes(options.privateKey) : new Uint8Array(randomBytes(32));
  const enr = typeof options.enr === "string" ? signableFromText(options.enr, key) : (options.enr ?? SignableENR.createV4(key));
  const bindIp = options.bindIp ?? "0.0.0.0";
  const port = options.port ?? 0;
  const family = bindIp.includes(":") ? "ip6" : "ip4";
  const bindAddr = multiaddr(`/${family}/${bindIp}/udp/${port}`);
  const discv5 = Discv5.create({
    enr,
    // @libp2p/crypto may carry a newer @libp2p/interface than discv5 was typed against; discv5
    // reads only `type` and `raw` from the key.
    privateKey: privateKeyFromRaw(key) as unknown as IDiscv5CreateOptions["privateKey"],
    bindAddrs: family === "ip4" ? { ip4: bindAddr } : { ip6: bindAddr },
    config: options.config ?? {},
  });
  await discv5.start();
  let stopped: Promise<void> | undefined;
  const handle: Discv5Handle = {
    get enr() {
      return discv5.enr.encodeTxt();
    },
    nodeId: enrNodeId(enr),
    port,
    discv5,
    events: discv5 as unknown as Discv5Events,
    async lookup() {
      // A lookup without any known peer would only end at lookupTimeout.
      if (stopped !== undefined || discv5.kadValues().length === 0) return [];
      return discv5.findRandomNode();
    },
    addEnrs(enrs) {
      const invalid: { enr: string; error: string }[] = [];
      let added = 0;
      for (const text of enrs) {
        try {
          // discv5.addEnr swallows decoding errors; decode first to report them.
          discv5.addEnr(ENRClass.decodeTxt(text.trim()));
          added++;
        } catch (e) {
          invalid.push({ enr: text, error: e instanceof Error ? e.message : String(e) });
        }
      }
      return { added, invalid };
    },
    stop() {
      stopped ??= discv5.stop();
      return stopped;
    },
  };
  return handle;
}
