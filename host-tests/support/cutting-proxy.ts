// A loopback TCP proxy between the device and the broker that misbehaves on demand: pass traffic,
// cut every connection after a random number of bytes (mid-packet, mid-TLS-record), or refuse
// connections outright.

import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export type ProxyMode = { kind: "pass" } | { kind: "cut"; minBytes: number; maxBytes: number } | { kind: "refuse" };

export interface CuttingProxy {
  port: number;
  mode: ProxyMode;
  /** Connections cut or refused so far. */
  cuts: number;
  /** Drops every open connection now. */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startCuttingProxy(targetPort: number, random: () => number = Math.random): Promise<CuttingProxy> {
  const open = new Set<Socket>();
  const proxy: CuttingProxy = {
    port: 0,
    mode: { kind: "pass" },
    cuts: 0,
    cutAll() {
      for (const s of open) s.destroy();
    },
    close: async () => {
      proxy.cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((client) => {
    const mode = proxy.mode;
    if (mode.kind === "refuse") {
      proxy.cuts++;
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    open.add(client);
    open.add(upstream);
    const both = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    let budget = mode.kind === "cut" ? mode.minBytes + Math.floor(random() * (mode.maxBytes - mode.minBytes)) : Infinity;
    const forward = (from: Socket, to: Socket) =>
      from.on("data", (chunk: Buffer) => {
        if (chunk.length >= budget) {
          to.write(chunk.subarray(0, budget)); // part of a packet gets through, then the line drops
          proxy.cuts++;
          both();
          return;
        }
        budget -= chunk.length;
        to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    client.on("error", both).on("close", both);
    upstream.on("error", both).on("close", both);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  proxy.port = (server.address() as AddressInfo).port;
  return proxy;
}
