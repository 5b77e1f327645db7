// The store service (`/vac/waku/store-query/3.0.0`): admission first (who may ask, and whether
// there is room), then the pure query against the archive (store.ts), then one answer.
import { proto_store } from "@waku/proto";
import type { GrantGate } from "../access.js";
import { PriorityScheduler, type AdmissionPolicy, type ServiceMode } from "../admission.js";
import type { Archive } from "../archive/archive.js";
import { EventLoopLoad } from "../load.js";
import type { Logger } from "../log.js";
import { answerStoreQuery, STORE_CODEC, storeError, StoreStatus, type StoreLimits, type StoreResponse } from "../store.js";
import { writeResponse } from "../streams.js";
import { readOrDrop, serve, type HandlerContext, type Registrar, type StreamLimits } from "./protocol.js";

export interface StoreInit {
  mode: ServiceMode;
  archive: Archive;
  gate: GrantGate | undefined;
  admission: AdmissionPolicy;
  limits: StoreLimits;
  /** Largest store request accepted, bytes. */
  maxRequestBytes: number;
  streams: StreamLimits;
  logger: Logger;
}

type Access = ReturnType<GrantGate["checkPeer"]>;

export class StoreService {
  readonly #registrar: Registrar;
  readonly #init: StoreInit;
  readonly #scheduler: PriorityScheduler;
  #load: EventLoopLoad | undefined;

  constructor(components: { registrar: Registrar }, init: StoreInit) {
    this.#registrar = components.registrar;
    this.#init = init;
    this.#scheduler = new PriorityScheduler(init.admission.limits);
  }

  async start(): Promise<void> {
    // Only freemium sheds free work by the event loop's lag.
    if (this.#init.mode === "freemium") this.#load = new EventLoopLoad();
    await serve(this.#registrar, STORE_CODEC, this.#init.streams, this.#init.logger, (ctx) => this.#handle(ctx));
  }

  async stop(): Promise<void> {
    this.#load?.stop();
    await this.#registrar.unhandle(STORE_CODEC);
  }

  async #handle(ctx: HandlerContext): Promise<void> {
    const peer = ctx.connection.remotePeer.toString();
    const { gate, admission, mode, logger } = this.#init;
    // The class is known before the request is read: a free peer's stream beyond the free stream
    // caps is reset unread, so a flood of free streams does not get decoded and answered.
    const access: Access = gate?.checkPeer(peer) ?? { allowed: false, reason: "no-gate" };
    if (access.allowed || mode === "paid-only") return this.#answer(ctx, peer, access);
    if (!admission.openFreeStream(peer)) {
      logger.log("debug", "store-stream-reset", { peer, freeStreams: admission.freeStreamsOpen });
      ctx.stream.abort(new Error("too many free store streams"));
      return;
    }
    try {
      await this.#answer(ctx, peer, access);
    } finally {
      admission.closeFreeStream(peer);
    }
  }

  async #answer(ctx: HandlerContext, peer: string, access: Access): Promise<void> {
    const { archive, gate, admission, limits, logger } = this.#init;
    const bytes = await readOrDrop(ctx, STORE_CODEC, this.#init.maxRequestBytes, this.#init.streams, logger);
    if (bytes === undefined) return;
    let request: proto_store.StoreQueryRequest;
    try {
      request = proto_store.StoreQueryRequest.decode(bytes);
    } catch {
      logger.log("warn", "store-refused", { peer, status: StoreStatus.BAD_REQUEST, why: "malformed" });
      await writeResponse(ctx.stream, proto_store.StoreQueryResponse.encode(storeError("", StoreStatus.BAD_REQUEST, "BAD_REQUEST: malformed request")), this.#init.streams.writeTimeoutMs);
      return;
    }
    // Checked again: a client may present its grant on another stream while this one opens.
    // (only a grant that arrived meanwhile counts: the first answer's reason, e.g. grant-expired, stays)
    if (!access.allowed) {
      const again = gate?.checkPeer(peer);
      if (again?.allowed) access = again;
    }
    const admitted = admission.admit(peer, access, { paidInFlight: this.#scheduler.paidInFlight, eventLoopDelayMs: this.#load?.delayMs ?? 0 });
    if (!admitted.admitted) {
      logger.log("info", "store-refused", { peer, status: admitted.statusCode, reason: access.allowed ? undefined : access.reason });
      await writeResponse(ctx.stream, proto_store.StoreQueryResponse.encode(storeError(request.requestId, admitted.statusCode, admitted.statusDesc)), this.#init.streams.writeTimeoutMs);
      return;
    }
    const started = performance.now();
    // The slot is held until the answer is written: that bounds answers in flight, and a slow
    // reader holds a free slot, not a paid one.
    let answered: StoreResponse | undefined;
    const result = await this.#scheduler.run(admitted.serviceClass, async () => {
      answered = await answerStoreQuery(request, archive, limits);
      await writeResponse(ctx.stream, proto_store.StoreQueryResponse.encode(answered), this.#init.streams.writeTimeoutMs);
    });
    if (result === undefined) {
      answered = storeError(request.requestId, StoreStatus.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE: overloaded, try later");
      await writeResponse(ctx.stream, proto_store.StoreQueryResponse.encode(answered), this.#init.streams.writeTimeoutMs);
    }
    logger.log(result === undefined ? "info" : "debug", result === undefined ? "store-shed" : "store-query", {
      peer,
      class: admitted.serviceClass,
      clientId: access.allowed ? access.clientId : undefined,
      status: answered?.statusCode,
      messages: answered?.messages.length,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  }
}

export function storeService(init: StoreInit): (components: { registrar: Registrar }) => StoreService {
  return (components) => new StoreService(components, init);
}
