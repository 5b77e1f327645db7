// Starting and stopping the small read-only HTTP servers (the offer, the probe's reports): the
// same deadlines for slow clients, the same listen and the same prompt close.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ListeningHttp {
  /** `http://host:port`, IPv6 hosts in brackets. */
  origin: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** CORS headers of a read-only JSON resource any web page may fetch. */
export const READ_ONLY_HEADERS = { "access-control-allow-origin": "*", "access-control-allow-methods": "GET, HEAD, OPTIONS" } as const;

/**
 * Answers what is not a read of the one resource at `pathname` (404 elsewhere, 204 to a CORS
 * preflight, 405 to another method) and returns true; false when the request is a GET or HEAD of it.
 */
export function answeredOtherThanRead(request: IncomingMessage, response: ServerResponse, pathname: string): boolean {
  if (new URL(request.url ?? "/", "http://localhost").pathname !== pathname) {
    response.writeHead(404, READ_ONLY_HEADERS).end();
    return true;
  }
  if (request.method === "OPTIONS") {
    response.writeHead(204, READ_ONLY_HEADERS).end();
    return true;
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { ...READ_ONLY_HEADERS, allow: "GET, HEAD, OPTIONS" }).end();
    return true;
  }
  return false;
}

/** Listens on `host:port` (0: any free port); a slow client cannot hold a socket past 10 s. */
export async function listenHttp(server: Server, host: string, port: number): Promise<ListeningHttp> {
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.address.includes(":") ? `[${address.address}]` : address.address;
  return {
    origin: `http://${shown}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
