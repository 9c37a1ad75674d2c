// The embedded broker for machines with nothing installed: Aedes in-process behind a TLS server
// that requires a client certificate from the dev CA, as AWS IoT Core and the Mosquitto config do.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { Aedes } from "aedes";

export interface EmbeddedBroker {
  port: number;
  aedes: Aedes;
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  certsDir: string;
  port?: number;
  host?: string;
  /** Accept only TLS clients that offer this ALPN protocol, as AWS IoT Core does on port 443. */
  alpn?: string;
  log?: (line: string) => void;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const { certsDir, log } = options;
  const server: Server = createServer(
    {
      key: readFileSync(join(certsDir, "broker.key")),
      cert: readFileSync(join(certsDir, "broker.pem")),
      ca: readFileSync(join(certsDir, "ca.pem")),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      ...(options.alpn !== undefined && { ALPNProtocols: [options.alpn] }),
    },
    (socket: TLSSocket) => {
      // Node's TLS server refuses a client offering only other protocols; one offering none gets here.
      if (options.alpn !== undefined && socket.alpnProtocol !== options.alpn) {
        log?.(`broker: refused a TLS client that did not offer ALPN ${options.alpn}`);
        socket.destroy();
        return;
      }
      aedes.handle(socket);
    },
  );
  server.on("tlsClientError", (error) => log?.(`broker: refused a TLS client: ${error.message}`));
  if (log) {
    aedes.on("client", (client) => log(`broker: client ${client.id} connected`));
    aedes.on("clientDisconnect", (client) => log(`broker: client ${client.id} disconnected`));
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    aedes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
