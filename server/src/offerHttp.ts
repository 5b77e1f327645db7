// The signed offer over HTTP, for web pages that cannot speak libp2p: `GET /offer` answers the
// same bytes as the libp2p protocol's frame payload (`{"offer":…,"signature":…}`), readable from
// any origin (the document is public and signed; nothing else is served here).
import { createServer, type Server } from "node:http";
import { answeredOtherThanRead, listenHttp, READ_ONLY_HEADERS } from "./httpListen.js";
import type { Logger } from "./log.js";

export interface OfferHttpOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The encoded signed offer now served. */
  offer(): Promise<Uint8Array>;
  logger: Logger;
}

export interface OfferHttp {
  /** e.g. `http://127.0.0.1:8080/offer`. */
  url: string;
  close(): Promise<void>;
}

export async function startOfferHttp(options: OfferHttpOptions): Promise<OfferHttp> {
  const server: Server = createServer((request, response) => {
    if (answeredOtherThanRead(request, response, "/offer")) return;
    options.offer().then(
      (bytes) => {
        response.writeHead(200, { ...READ_ONLY_HEADERS, "content-type": "application/json", "content-length": bytes.length, "cache-control": "max-age=60" });
        response.end(request.method === "HEAD" ? undefined : bytes);
      },
      (error: unknown) => {
        options.logger.log("error", "offer-failed", { error: String(error) });
        response.writeHead(503, READ_ONLY_HEADERS).end();
      },
    );
  });
  const listening = await listenHttp(server, options.host, options.port);
  return { url: `${listening.origin}/offer`, close: listening.close };
}
