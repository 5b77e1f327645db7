// Starting and stopping the small read-only HTTP servers (the offer, the probe's reports): the
// same deadlines for slow clients, the same listen and the same prompt close.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ListeningHttp {
  /** `http://host:port`, IPv6 hosts in brackets. */
  origin: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
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
