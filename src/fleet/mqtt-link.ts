// The provisioning machine's connection as an MqttClient: a clean session (nothing of a claim
// connection should outlive it), subscriptions at QoS 1 answered by SUBACK, requests at QoS 0 (AWS
// answers on the response topics; a lost request is retried by the machine's timeout). One
// connection at a time; a connection the machine closed itself reports nothing more.

import { MqttClient, type SocketCallbacks, type StreamSocket } from "../mqtt/client";
import { utf8 } from "../mqtt/codec";
import type { Credentials, ProvisioningLink } from "./provisioning";

export interface MachineEvents {
  onConnected(): void;
  onSubscribed(): void;
  onMessage(topic: string, payload: Uint8Array): void;
  onClosed(reason: string): void;
}

export interface MqttLinkOptions {
  /** Opens a TLS socket with the claim or the given identity as the client certificate. */
  openSocket(credentials: Credentials, callbacks: SocketCallbacks): StreamSocket;
  writeReserve?: number;
  keepAliveSeconds?: number;
  /** Largest packet accepted: the certificate response is about 5 KB. */
  maxIncomingPacketBytes?: number;
}

const SUBSCRIBE_ID = 1;

export class MqttProvisioningLink implements ProvisioningLink {
  readonly #o: MqttLinkOptions;
  #client: MqttClient | undefined;
  machine: MachineEvents | undefined;

  constructor(options: MqttLinkOptions) {
    this.#o = options;
  }

  open(credentials: Credentials, clientId: string): void {
    this.close();
    const events = () => this.machine;
    let client: MqttClient | undefined;
    const current = () => client !== undefined && this.#client === client;
    try {
      client = new MqttClient({
        openSocket: (callbacks) => this.#o.openSocket(credentials, callbacks),
        writeReserve: this.#o.writeReserve ?? 0,
        connect: { clientId, keepAliveSeconds: this.#o.keepAliveSeconds ?? 60, cleanSession: true },
        maxIncomingPacketBytes: this.#o.maxIncomingPacketBytes ?? 16_384,
        onConnected: () => {
          if (current()) events()?.onConnected();
        },
        onSuback: (packetId, grants) => {
          if (!current() || packetId !== SUBSCRIBE_ID) return;
          if (grants.some((g) => g >= 0x80)) {
            this.close();
            events()?.onClosed("the broker refused a subscription");
          } else events()?.onSubscribed();
        },
        onMessage: ({ topic, payload }) => {
          if (current()) events()?.onMessage(topic, payload);
        },
        onClose: (reason) => {
          if (!current()) return;
          this.#client = undefined;
          events()?.onClosed(reason || "closed");
        },
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      events()?.onClosed(`cannot connect: ${reason}`);
      return;
    }
    this.#client = client;
  }

  subscribe(filters: string[]): void {
    this.#client?.subscribe(SUBSCRIBE_ID, filters);
  }

  publish(topic: string, payload: string): void {
    this.#client?.publish({ topic, payload: utf8(payload), qos: 0 });
  }

  close(): void {
    const client = this.#client;
    this.#client = undefined;
    if (client) client.disconnect();
  }
}
