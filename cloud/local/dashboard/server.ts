// The local mirror's dashboard: plain node:http on loopback. The page (public/), uPlot served from
// node_modules (not copied into the repository), a JSON API over the mirror's tables (api.ts), and
// Server-Sent Events that tell the page when something was stored (and every few seconds anyway,
// so a silent device turns silent on the page and a database filled by another process shows up).

import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Database } from "../database.ts";
import { alarms, CHANNELS, CHARTS, devices, readings, SILENT_AFTER_MS } from "./api.ts";

const here = dirname(fileURLToPath(import.meta.url));
const uplotDist = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");

/** URL path -> file and content type: nothing else is served from disk. */
const FILES: Record<string, [string, string]> = {
  "/": [join(here, "public/index.html"), "text/html; charset=utf-8"],
  "/dashboard.js": [join(here, "public/dashboard.js"), "text/javascript; charset=utf-8"],
  "/dashboard.css": [join(here, "public/dashboard.css"), "text/css; charset=utf-8"],
  "/vendor/uPlot.iife.min.js": [join(uplotDist, "uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
  "/vendor/uPlot.min.css": [join(uplotDist, "uPlot.min.css"), "text/css; charset=utf-8"],
};

export interface DashboardOptions {
  db: Database;
  /** 0 or undefined: any free port. */
  port?: number;
  host?: string;
  /** Calls back whenever the pipeline stored something; returns an unsubscribe function. */
  onStored?: (listener: () => void) => () => void;
  /** Period of the unconditional update event (ms). */
  tickMs?: number;
  log?: (line: string) => void;
}

export interface Dashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { db } = options;
  const streams = new Set<ServerResponse>();
  let stamp = 0;
  const broadcast = (reason: string) => {
    const event = `event: update\ndata: ${JSON.stringify({ reason, at: Date.now(), stamp: ++stamp })}\n\n`;
    for (const res of streams) res.write(event);
  };
  // Coalesced: a burst of stored batches is one event per 200 ms at most.
  let pending: NodeJS.Timeout | undefined;
  const stored = () => {
    pending ??= setTimeout(() => {
      pending = undefined;
      broadcast("stored");
    }, 200);
  };
  const unsubscribe = options.onStored?.(stored);
  const tick = setInterval(() => broadcast("tick"), options.tickMs ?? 5000);

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://dashboard");
    if (req.method !== "GET") return json(res, 405, { error: "GET only" });
    const file = FILES[url.pathname];
    if (file) {
      res.writeHead(200, { "content-type": file[1], "cache-control": "no-cache" });
      res.end(await readFile(file[0]));
      return;
    }
    if (url.pathname === "/favicon.ico") {
      res.writeHead(204);
      res.end();
      return;
    }
    const device = url.searchParams.get("device") ?? "";
    switch (url.pathname) {
      case "/api/config":
        return json(res, 200, { channels: CHANNELS, charts: CHARTS, silentAfterMs: SILENT_AFTER_MS, database: db.kind });
      case "/api/devices":
        return json(res, 200, await devices(db));
      case "/api/readings": {
        if (!device) return json(res, 400, { error: "device= is required" });
        const since = url.searchParams.get("since");
        const limit = url.searchParams.get("limit");
        return json(res, 200, await readings(db, device, { since: since === null ? undefined : Number(since), limit: limit === null ? undefined : Number(limit) }));
      }
      case "/api/alarms":
        if (!device) return json(res, 400, { error: "device= is required" });
        return json(res, 200, await alarms(db, device));
      case "/api/events":
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
        res.write(`retry: 2000\nevent: update\ndata: ${JSON.stringify({ reason: "hello", at: Date.now(), stamp })}\n\n`);
        streams.add(res);
        req.on("close", () => streams.delete(res));
        return;
      default:
        return json(res, 404, { error: `no such path: ${url.pathname}` });
    }
  }

  const server = createServer((req, res) => {
    route(req, res).catch((error: Error) => {
      options.log?.(`dashboard: ${req.url}: ${error.message}`);
      if (!res.headersSent) json(res, 500, { error: error.message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://${options.host ?? "127.0.0.1"}:${port}/`,
    async close() {
      clearInterval(tick);
      clearTimeout(pending);
      unsubscribe?.();
      for (const res of streams) res.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
