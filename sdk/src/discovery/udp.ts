// UDP helpers (Node-only).
import * as dgram from "node:dgram";

/**
 * A UDP port that is free on `ip` right now (bind to port 0, read, close). Another process may take
 * it before it is used again; good enough for tests and demos.
 */
export async function findFreeUdpPort(ip = "127.0.0.1"): Promise<number> {
  const socket = dgram.createSocket(ip.includes(":") ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, ip, () => resolve());
    });
    return socket.address().port;
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
