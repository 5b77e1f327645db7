// The probe's latest signed reports over HTTP, for pages and anyone who does not run a Waku
// node: `GET /reports` answers `{"reports":[…newest first…]}` (`?limit=n` for fewer), readable
// from any origin (the reports are public and signed; nothing else is served here).
import { createServer, type Server } from "node:http";
import { encodeProbeReport, type SignedProbeReport } from "@status/mailserver-sdk";
import { answeredOtherThanRead, listenHttp, READ_ONLY_HEADERS } from "../httpListen.js";
import type { Logger } from "../log.js";

export interface ReportsHttp {
  /** e.g. `http://127.0.0.1:8090/reports`. */
  url: string;
  /** Adds a report to those served (the oldest beyond `keep` go). */
  add(report: SignedProbeReport): void;
  close(): Promise<void>;
}

export async function startReportsHttp(options: { host: string; port: number; keep: number; logger: Logger }): Promise<ReportsHttp> {
  // Encoded once when added: every answer is a join of ready bytes.
  const latest: string[] = [];
  const server: Server = createServer((request, response) => {
    if (answeredOtherThanRead(request, response, "/reports")) return;
    const url = new URL(request.url ?? "/", "http://probe");
    const asked = Number(url.searchParams.get("limit") ?? latest.length);
    const limit = Number.isSafeInteger(asked) && asked >= 0 ? asked : latest.length;
    const body = Buffer.from(`{"reports":[${latest.slice(0, limit).join(",")}]}`);
    response.writeHead(200, { ...READ_ONLY_HEADERS, "content-type": "application/json", "content-length": body.length, "cache-control": "max-age=30" });
    response.end(request.method === "HEAD" ? undefined : body);
  });
  const listening = await listenHttp(server, options.host, options.port);
  const url = `${listening.origin}/reports`;
  options.logger.log("info", "probe-http-serving", { url });
  return {
    url,
    add(report) {
      latest.unshift(Buffer.from(encodeProbeReport(report)).toString("utf8"));
      latest.length = Math.min(latest.length, options.keep);
    },
    close: listening.close,
  };
}
