// The metadata service (`/vac/waku/metadata/1.0.0`): the node's cluster and shards. @waku/sdk
// drops peers that do not answer it, and relay peers compare clusters with it.
import { proto_metadata } from "@waku/proto";
import type { Logger } from "../log.js";
import { writeResponse } from "../streams.js";
import { readOrDrop, serve, type HandlerContext, type Registrar, type StreamLimits } from "./protocol.js";

export const METADATA_CODEC = "/vac/waku/metadata/1.0.0";

export interface MetadataInit {
  clusterId: number;
  shards: readonly number[];
  streams: StreamLimits;
  logger: Logger;
}

export class MetadataService {
  readonly #registrar: Registrar;
  readonly #init: MetadataInit;

  constructor(components: { registrar: Registrar }, init: MetadataInit) {
    this.#registrar = components.registrar;
    this.#init = init;
  }

  async start(): Promise<void> {
    await serve(this.#registrar, METADATA_CODEC, this.#init.streams, this.#init.logger, (ctx) => this.#handle(ctx));
  }

  async stop(): Promise<void> {
    await this.#registrar.unhandle(METADATA_CODEC);
  }

  async #handle(ctx: HandlerContext): Promise<void> {
    const bytes = await readOrDrop(ctx, METADATA_CODEC, 4096, this.#init.streams, this.#init.logger);
    if (bytes === undefined) return;
    try {
      proto_metadata.WakuMetadataRequest.decode(bytes);
    } catch {
      ctx.stream.abort(new Error("malformed metadata request"));
      return;
    }
    await writeResponse(ctx.stream, proto_metadata.WakuMetadataResponse.encode({ clusterId: this.#init.clusterId, shards: [...this.#init.shards] }), this.#init.streams.writeTimeoutMs);
  }
}

export function metadataService(init: MetadataInit): (components: { registrar: Registrar }) => MetadataService {
  return (components) => new MetadataService(components, init);
}
