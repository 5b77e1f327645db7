// Bounds on inbound connections still in their handshake (the socket accepted, Noise and the
// muxer not done yet), per address and in total. libp2p bounds them only in total and, once full,
// refuses every new connection: about 256 silent sockets from ~32 addresses, or 8 from the address
// a NAT's clients share, kept every new client out (the bench's idle-socket measure). Here a full
// bound makes the OLDEST pending handshake give way instead. An honest handshake completes in
// milliseconds, so to keep one client out an attacker must open a whole bound's worth of sockets
// within that time, from one address at most libp2p's per-address rate (inboundConnectionThreshold).

/** What the gate needs of libp2p's MultiaddrConnection (TCP and WebSockets alike). */
export interface PendingConnection {
  remoteAddr: { nodeAddress(): { address: string } };
  /** The transports set `close` when the socket closes. */
  timeline: { close?: number };
  abort(error: Error): void;
}

export interface PendingGateLimits {
  maxPending: number;
  maxPendingPerAddress: number;
  /** A slot is freed at this deadline at the latest (libp2p aborts the handshake then). */
  handshakeTimeoutMs: number;
}

/** The key one address's pending handshakes are counted under: the IPv4 address, or the IPv6 /64 (one host's usual share). */
export function addressKey(address: string): string {
  return address.includes(":") ? address.split(":").slice(0, 4).join(":") : address;
}

/** A libp2p connection gater applying the bounds (as `connectionGater`). */
export function pendingHandshakeGate(limits: PendingGateLimits) {
  // Maps and sets iterate in insertion order: the first entry is the oldest.
  const all = new Map<PendingConnection, { key: string; timer: NodeJS.Timeout }>();
  const byAddress = new Map<string, Set<PendingConnection>>();
  let evicted = 0;

  const release = (connection: PendingConnection) => {
    const entry = all.get(connection);
    if (entry === undefined) return;
    all.delete(connection);
    clearTimeout(entry.timer);
    const mine = byAddress.get(entry.key)!;
    mine.delete(connection);
    if (mine.size === 0) byAddress.delete(entry.key);
  };
  const evictOldest = (connections: Iterable<PendingConnection>) => {
    const oldest = connections[Symbol.iterator]().next().value as PendingConnection;
    release(oldest);
    evicted++;
    oldest.abort(new Error("handshake evicted: a newer connection needed its slot"));
  };

  return {
    denyInboundConnection: async (connection: PendingConnection): Promise<boolean> => {
      const key = addressKey(connection.remoteAddr.nodeAddress().address);
      const mine = byAddress.get(key);
      if (mine !== undefined && mine.size >= limits.maxPendingPerAddress) evictOldest(mine);
      if (all.size >= limits.maxPending) evictOldest(all.keys());
      const timer = setTimeout(() => release(connection), limits.handshakeTimeoutMs);
      timer.unref();
      all.set(connection, { key, timer });
      if (byAddress.has(key)) byAddress.get(key)!.add(connection);
      else byAddress.set(key, new Set([connection]));
      onClose(connection, () => release(connection));
      return false;
    },
    denyInboundUpgradedConnection: async (_peer: unknown, connection: PendingConnection): Promise<boolean> => {
      release(connection);
      return false;
    },
    /** Handshakes pending now, all addresses. */
    pending: () => all.size,
    /** Handshakes that gave way to newer ones since the start. */
    evicted: () => evicted,
  };
}

/**
 * Calls `listener` when the socket closes: a client that gave up frees its slot at once rather than
 * at the handshake deadline. libp2p has no event for it; its transports set `timeline.close`.
 */
function onClose(connection: PendingConnection, listener: () => void): void {
  let closedAt = connection.timeline.close;
  if (closedAt !== undefined) return listener();
  try {
    Object.defineProperty(connection.timeline, "close", {
      configurable: true,
      enumerable: true,
      get: () => closedAt,
      set: (value: number | undefined) => {
        closedAt = value;
        if (value !== undefined) listener();
      },
    });
  } catch {
    // A frozen timeline: the deadline frees the slot.
  }
}
