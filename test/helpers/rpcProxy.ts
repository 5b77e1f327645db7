// A thin JSON-RPC proxy on loopback in front of a real node. It is a double only of what a
// hosted provider does on top of the chain: refuse eth_getLogs results over a cap (with the
// error text such providers send), go down, or run a hook before forwarding a call (to reorganize
// the chain at an exact moment). Everything else is the node's own answer.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { once } from "node:events";

export interface RpcCall {
  jsonrpc: "2.0";
  id: number | string;
  method: string;
  params?: unknown[];
}

export interface RpcProxy {
  url: string;
  /** Refuse eth_getLogs answers with more than this many logs (default: no cap). */
  maxLogs: number;
  /** Answer every call with HTTP 503 (an outage). */
  down: boolean;
  /** Hold every call without answering (an RPC that hangs instead of failing); held calls never get an answer. */
  hang: boolean;
  /**
   * Answer eth_getBlockReceipts (which geth, Erigon and hosted providers have and the hardhat
   * node does not) from the block's transactions' receipts; false: "method not found".
   */
  blockReceipts: boolean;
  /** Answer a call itself instead of forwarding it, when this returns something other than undefined. */
  answer?: (call: RpcCall) => unknown;
  /** Calls forwarded, by method. */
  calls: Map<string, number>;
  /** eth_getLogs calls refused for their size. */
  refusals: number;
  /** Logs returned by eth_getLogs calls, in total. */
  logsServed: number;
  /** Runs before a call is forwarded (awaited). */
  beforeForward?: (call: RpcCall) => Promise<void> | void;
  close(): Promise<void>;
}

const readBody = async (request: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
};

export async function startRpcProxy(target: string): Promise<RpcProxy> {
  const proxy: RpcProxy = {
    url: "",
    maxLogs: Number.POSITIVE_INFINITY,
    down: false,
    hang: false,
    blockReceipts: false,
    calls: new Map(),
    refusals: 0,
    logsServed: 0,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
  const ask = async (method: string, params: unknown[]): Promise<unknown> => {
    const response = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    return ((await response.json()) as { result?: unknown }).result;
  };
  const forward = async (call: RpcCall): Promise<unknown> => {
    proxy.calls.set(call.method, (proxy.calls.get(call.method) ?? 0) + 1);
    await proxy.beforeForward?.(call);
    const own = proxy.answer?.(call);
    if (own !== undefined) return { jsonrpc: "2.0", id: call.id, ...(own as object) };
    if (call.method === "eth_getBlockReceipts") {
      if (!proxy.blockReceipts) return { jsonrpc: "2.0", id: call.id, error: { code: -32601, message: "Method eth_getBlockReceipts not found" } };
      const block = (await ask("eth_getBlockByNumber", [call.params?.[0], false])) as { transactions: string[] } | null;
      const receipts = block === null ? null : await Promise.all(block.transactions.map((hash) => ask("eth_getTransactionReceipt", [hash])));
      return { jsonrpc: "2.0", id: call.id, result: receipts };
    }
    const response = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(call) });
    const answer = (await response.json()) as { result?: unknown };
    if (call.method === "eth_getLogs" && Array.isArray(answer.result) && answer.result.length > proxy.maxLogs) {
      proxy.refusals++;
      return { jsonrpc: "2.0", id: call.id, error: { code: -32005, message: `query returned more than ${proxy.maxLogs} results` } };
    }
    if (call.method === "eth_getLogs" && Array.isArray(answer.result)) proxy.logsServed += answer.result.length;
    return answer;
  };
  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      if (proxy.hang) return;
      if (proxy.down) {
        response.writeHead(503).end("service unavailable");
        return;
      }
      const parsed = JSON.parse(body) as RpcCall | RpcCall[];
      const answer = Array.isArray(parsed) ? await Promise.all(parsed.map(forward)) : await forward(parsed);
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
    })().catch((error: unknown) => {
      response.writeHead(500).end(String(error));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy: no port");
  proxy.url = `http://127.0.0.1:${address.port}`;
  return proxy;
}
