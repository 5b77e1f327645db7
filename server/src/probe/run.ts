// Assembles a running probe from its configuration: its libp2p node (a client: it dials, it does
// not listen), the registry reader or the configured list, the reports' HTTP endpoint, and the
// rounds, one every `intervalSeconds`. Used by the CLI and by tests.
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { privateKeyFromRaw } from "@libp2p/crypto/keys";
import { identify } from "@libp2p/identify";
import { mplex } from "@libp2p/mplex";
import { ping } from "@libp2p/ping";
import { tcp } from "@libp2p/tcp";
import { webSockets } from "@libp2p/websockets";
import { FetchRequest, JsonRpcProvider } from "ethers";
import { createLibp2p, type Libp2p } from "libp2p";
import { RegistryClient } from "@status/mailserver-sdk";
import { readNodeKey } from "../keyFile.js";
import type { Logger } from "../log.js";
import type { ProbeConfig } from "./config.js";
import { startReportsHttp, type ReportsHttp } from "./http.js";
import { Probe, type RoundResult } from "./probe.js";
import { registryTargets, type ProbeTarget } from "./targets.js";

/** The probe's libp2p node: the transports and muxers mail servers speak, no service of its own but identify and ping. */
export async function createProbeLibp2p(privateKey: Uint8Array): Promise<Libp2p> {
  const node = await createLibp2p({
    // (cast: the hoisted @libp2p/crypto declares its types against another copy of @libp2p/interface)
    privateKey: privateKeyFromRaw(privateKey) as unknown as NonNullable<Parameters<typeof createLibp2p>[0]>["privateKey"],
    addresses: { listen: [] },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(), mplex()],
    services: { identify: identify(), ping: ping() } as never,
    start: false,
  });
  await node.start();
  return node;
}

export interface RunningProbe {
  probe: Probe;
  libp2p: Libp2p;
  /** Where the latest reports are served (`http` in the config). */
  reportsUrl: string | undefined;
  /** The last round's result (undefined before the first ends). */
  lastRound: RoundResult | undefined;
  /** Runs one round now (rounds never overlap: a round asked for during another waits for it). */
  runRound(): Promise<RoundResult>;
  stop(): Promise<void>;
}

export interface StartProbeOptions {
  privateKey: Uint8Array;
  /** Run rounds every `intervalSeconds` (default true); tests run them by hand with `runRound`. */
  schedule?: boolean;
  /** The client key of `access` (read from `access.clientKeyFile` when not given). */
  clientKey?: Uint8Array;
  /** Where the targets come from instead of the config (tests with an in-process chain). */
  targets?: () => Promise<ProbeTarget[]>;
}

export async function startProbe(config: ProbeConfig, logger: Logger, options: StartProbeOptions): Promise<RunningProbe> {
  let targets = options.targets;
  let provider: JsonRpcProvider | undefined;
  if (targets === undefined && config.nodes !== undefined) {
    const listed = config.nodes;
    targets = async () => listed;
  }
  if (targets === undefined) {
    const request = new FetchRequest(config.rpcUrl!);
    request.timeout = config.rpcTimeoutMs;
    provider = new JsonRpcProvider(request, config.chainId, { staticNetwork: true });
    const registry = new RegistryClient({ runner: provider, chainId: config.chainId, addresses: { registry: config.registry }, retry: { timeoutMs: config.rpcTimeoutMs } });
    // A registry that does not answer this round: measure the nodes it listed last time.
    let known: ProbeTarget[] = [];
    targets = async () => {
      try {
        known = await registryTargets(registry);
      } catch (error) {
        logger.log("warn", "probe-registry-unavailable", { error: (error as Error).message.split("\n")[0], measuring: known.length });
      }
      return known;
    };
  }
  const clientKey = options.clientKey ?? (config.access !== undefined ? await readNodeKey(config.access.clientKeyFile) : undefined);
  const libp2p = await createProbeLibp2p(options.privateKey);
  let http: ReportsHttp | undefined;
  try {
    if (config.http !== undefined) http = await startReportsHttp({ ...config.http, logger });
  } catch (error) {
    await libp2p.stop();
    provider?.destroy();
    throw new Error(`cannot serve reports over HTTP on ${config.http!.host}:${config.http!.port}: ${(error as Error).message}`);
  }
  const probe = new Probe({ ...config, privateKey: options.privateKey, libp2p, targets, logger, ...(clientKey !== undefined ? { clientKey } : {}) });
  if (config.stateFile !== undefined) {
    try {
      await probe.loadState(config.stateFile);
    } catch (error) {
      await http?.close();
      await libp2p.stop();
      provider?.destroy();
      throw error;
    }
  }

  let current: Promise<RoundResult> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const running: RunningProbe = {
    probe,
    libp2p,
    reportsUrl: http?.url,
    lastRound: undefined,
    runRound() {
      const after = current?.catch(() => undefined) ?? Promise.resolve();
      const round = after.then(async () => {
        const result = await probe.round();
        for (const report of result.reports) http?.add(report);
        running.lastRound = result;
        if (config.stateFile !== undefined) {
          await probe.saveState(config.stateFile).catch((error: Error) => logger.log("warn", "probe-state-not-saved", { file: config.stateFile, error: error.message }));
        }
        return result;
      });
      current = round;
      return round;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      probe.stop();
      await current?.catch(() => undefined);
      await http?.close();
      await libp2p.stop();
      provider?.destroy();
      logger.log("info", "probe-stopped", {});
    },
  };
  if (options.schedule ?? true) {
    // The next round starts `intervalSeconds` after the previous one started (or at once when a round ran longer).
    const loop = () => {
      if (stopped) return;
      const started = Date.now();
      running.runRound().then(
        () => undefined,
        (error: Error) => logger.log("error", "probe-round-failed", { error: error.message.split("\n")[0] }),
      ).finally(() => {
        if (stopped) return;
        timer = setTimeout(loop, Math.max(0, started + config.intervalSeconds * 1000 - Date.now()));
      });
    };
    loop();
  }
  logger.log("info", "probe-started", { nodeId: probe.nodeId, peerId: libp2p.peerId.toString(), registry: config.registry, chainId: config.chainId, reportsUrl: http?.url ?? null });
  return running;
}
