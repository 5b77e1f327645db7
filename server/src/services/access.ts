// The access service (`/status/mailserver/access/1.0.0`): one encoded grant in, one decision out.
import { ACCESS_PROTOCOL } from "@status/mailserver-sdk";
import { encodeGrantAnswer, presentEncodedGrant, type GrantGate } from "../access.js";
import type { Logger } from "../log.js";
import { writeResponse } from "../streams.js";
import { readOrDrop, serve, type HandlerContext, type Registrar, type StreamLimits } from "./protocol.js";

export interface AccessInit {
  gate: GrantGate;
  streams: StreamLimits;
  logger: Logger;
}

export class AccessService {
  readonly #registrar: Registrar;
  readonly #init: AccessInit;

  constructor(components: { registrar: Registrar }, init: AccessInit) {
    this.#registrar = components.registrar;
    this.#init = init;
  }

  async start(): Promise<void> {
    await serve(this.#registrar, ACCESS_PROTOCOL, this.#init.streams, this.#init.logger, (ctx) => this.#handle(ctx));
  }

  async stop(): Promise<void> {
    await this.#registrar.unhandle(ACCESS_PROTOCOL);
  }

  async #handle(ctx: HandlerContext): Promise<void> {
    const peer = ctx.connection.remotePeer.toString();
    const bytes = await readOrDrop(ctx, ACCESS_PROTOCOL, 2048, this.#init.streams, this.#init.logger);
    if (bytes === undefined) return;
    const answer = await presentEncodedGrant(this.#init.gate, bytes, { connectionPeerId: peer });
    this.#init.logger.log("info", answer.accepted ? "grant-accepted" : "grant-refused", {
      peer,
      ...(answer.accepted ? { clientId: answer.clientId, until: answer.until } : { reason: answer.reason }),
    });
    await writeResponse(ctx.stream, encodeGrantAnswer(answer), this.#init.streams.writeTimeoutMs);
  }
}

export function accessService(init: AccessInit): (components: { registrar: Registrar }) => AccessService {
  return (components) => new AccessService(components, init);
}
