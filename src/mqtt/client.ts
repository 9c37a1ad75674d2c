// MQTT 3.1.1 client over an ECMA-419 stream socket (TCP or TLS).
// One instance is one connection attempt: it connects on construction and reports onClose once.
// Resend, sessions and backoff live above it, in whatever owns the client.

import Timer from "timer";
import {
  PacketReader, PacketType, MqttProtocolError, describeConnackCode,
  encodeConnect, encodeDisconnect, encodePingreq, encodePuback, encodePublish, encodeSubscribe,
  type ConnectOptions, type IncomingPacket, type PublishOptions,
} from "./codec";

/** The part of an ECMA-419 socket the client uses. */
export interface StreamSocket {
  read(): ArrayBuffer | undefined;
  /** The writable count left; nothing (or NaN through TLS) once the connection has failed. */
  write(bytes: Uint8Array): number | undefined;
  close(): void;
}

export interface SocketCallbacks {
  onReadable(count: number): void;
  onWritable(count: number): void;
  onError(): void;
}

export interface MqttClientOptions {
  /** Opens the socket with the given callbacks (e.g. new TLSSocket({...options, ...callbacks})). */
  openSocket(callbacks: SocketCallbacks): StreamSocket;
  /**
   * Bytes to keep free per write for the transport's own framing: a TLS socket turns each write into
   * one record that is larger than the data, so it must not be filled to its reported writable count.
   */
  writeReserve?: number;
  connect: ConnectOptions;
  /** Largest packet accepted from the broker; larger ones close the connection. */
  maxIncomingPacketBytes?: number;
  /**
   * Packets waiting for the socket, at most (default 64); more closes the connection. A broker that
   * sends QoS 1 PUBLISHes but never reads would otherwise grow the PUBACK queue without limit.
   */
  maxQueuedPackets?: number;
  /** How long to wait for CONNACK, and for PINGRESP after a PINGREQ. */
  responseTimeoutMs?: number;
  /** Granularity of the keep-alive and timeout checks (tests shorten it). */
  tickMs?: number;
  onConnected?(sessionPresent: boolean): void;
  onPuback?(packetId: number): void;
  /** Everything queued has been handed to the socket. */
  onDrained?(): void;
  onMessage?(message: { topic: string; payload: Uint8Array; qos: number; retain: boolean }): void;
  /** The broker answered a subscribe(): granted QoS per filter, 0x80 for a refused one. */
  onSuback?(packetId: number, grants: number[]): void;
  /** Called once, when the connection ends for any reason; reason is "" after disconnect(). */
  onClose?(reason: string): void;
}

type State = "opening" | "awaiting-connack" | "connected" | "disconnecting" | "closed";

const MAX_WRITE_CHUNK = 2048;

export class MqttClient {
  #options: MqttClientOptions;
  #socket: StreamSocket | undefined;
  #state: State = "opening";
  #reader: PacketReader;
  #queue: Uint8Array[] = [];
  #queueOffset = 0;
  #writable = 0;
  #ticker: Timer | undefined;
  /** Time since the client last sent anything. */
  #idleMs = 0;
  /** Time since the client last received a packet. */
  #silentMs = 0;
  /** Bytes sent since the last packet received: the broker owes an answer. */
  #sentSinceReceive = false;
  #awaitingMs = -1;
  #tickMs: number;
  #closeReason: string | undefined;

  constructor(options: MqttClientOptions) {
    this.#options = options;
    this.#reader = new PacketReader(options.maxIncomingPacketBytes ?? 16_384);
    // Fail fast on a bad CONNECT before a socket is opened.
    const connectPacket = encodeConnect(options.connect);
    this.#queue.push(connectPacket);
    let socket: StreamSocket;
    try {
      socket = options.openSocket({
        onReadable: (count) => this.#onReadable(count),
        onWritable: (count) => this.#onWritable(count),
        onError: () => this.#fail("socket error or closed by peer"),
      });
    } catch (error) {
      this.#state = "closed";
      throw error;
    }
    this.#tickMs = options.tickMs ?? 1000;
    if (this.#state === "closed") {
      // The socket failed while it was being opened: onClose has been called already.
      Timer.set(() => closeQuietly(socket), 0);
      return;
    }
    this.#socket = socket;
    this.#ticker = Timer.repeat(() => this.#tick(), this.#tickMs);
    this.#awaitingMs = 0;
  }

  get connected(): boolean {
    return this.#state === "connected";
  }

  /** Bytes accepted by publish() that the socket has not taken yet. */
  get queuedBytes(): number {
    let total = -this.#queueOffset;
    for (const chunk of this.#queue) total += chunk.length;
    return total;
  }

  publish(options: PublishOptions): void {
    if (this.#state !== "connected") throw new Error("MQTT client is not connected");
    this.#send(encodePublish(options));
  }

  /**
   * SUBSCRIBE at QoS 1 with the given packet id (the caller keeps ids apart from its publishes');
   * onSuback reports the answer.
   */
  subscribe(packetId: number, filters: string[]): void {
    if (this.#state !== "connected") throw new Error("MQTT client is not connected");
    this.#send(encodeSubscribe(packetId, filters.map((topic) => ({ topic, qos: 1 as const }))));
  }

  /**
   * Sends DISCONNECT after everything queued, then closes; publishes are refused from now on, and if
   * the socket has not taken it all within the response timeout the connection is dropped anyway.
   */
  disconnect(): void {
    if (this.#state === "closed" || this.#state === "disconnecting") return;
    if (this.#state === "connected") {
      this.#queue.push(encodeDisconnect());
      this.#state = "disconnecting";
      this.#awaitingMs = 0;
      this.#closeAfterDrain = true;
      this.#pump();
    } else {
      this.#finish("");
    }
  }

  /** Drops the connection at once (no DISCONNECT, so the broker publishes the will). */
  close(reason = "closed by application"): void {
    this.#finish(reason);
  }

  #closeAfterDrain = false;

  #send(packet: Uint8Array): void {
    if (this.#queue.length >= (this.#options.maxQueuedPackets ?? 64)) {
      this.#fail(`outgoing queue full (${this.#queue.length} packets): the broker is not reading`);
      return;
    }
    this.#queue.push(packet);
    this.#idleMs = 0;
    this.#sentSinceReceive = true;
    this.#pump();
  }

  #onWritable(count: number): void {
    if (this.#state === "closed") return;
    this.#writable = count;
    if (this.#state === "opening") this.#state = "awaiting-connack";
    this.#pump();
  }

  #pump(): void {
    const socket = this.#socket;
    if (!socket || this.#state === "opening" || this.#state === "closed") return;
    if (this.#state === "disconnecting" && !this.#closeAfterDrain) return;
    const reserve = this.#options.writeReserve ?? 0;
    while (this.#queue.length > 0) {
      const room = Math.min(this.#writable - reserve, MAX_WRITE_CHUNK);
      if (room <= 0) return; // wait for onWritable
      const head = this.#queue[0];
      const size = Math.min(room, head.length - this.#queueOffset);
      const chunk = head.subarray(this.#queueOffset, this.#queueOffset + size);
      let left: unknown;
      try {
        left = socket.write(chunk);
      } catch (error) {
        this.#fail(`socket write failed: ${messageOf(error)}`);
        return;
      }
      // The SDK's sockets return nothing (and the TLS socket NaN) once the connection has failed.
      if (typeof left !== "number" || !(left >= 0)) {
        this.#fail("socket write failed: the connection is gone");
        return;
      }
      this.#writable = left;
      this.#queueOffset += size;
      if (this.#queueOffset === head.length) {
        this.#queue.shift();
        this.#queueOffset = 0;
      }
    }
    if (this.#closeAfterDrain) {
      this.#finish("");
      return;
    }
    if (this.#state === "connected" && this.#options.onDrained) {
      try {
        this.#options.onDrained();
      } catch (error) {
        this.#fail(`application callback failed: ${messageOf(error)}`);
      }
    }
  }

  #onReadable(_count: number): void {
    if (this.#state === "closed" || !this.#socket) return;
    for (;;) {
      let data: ArrayBuffer | undefined;
      try {
        data = this.#socket.read();
      } catch (error) {
        this.#fail(`socket read failed: ${messageOf(error)}`);
        return;
      }
      if (!data || data.byteLength === 0) return;
      let packets: IncomingPacket[];
      try {
        packets = this.#reader.push(new Uint8Array(data));
      } catch (error) {
        this.#fail(error instanceof MqttProtocolError ? `protocol error: ${error.message}` : messageOf(error));
        return;
      }
      if (packets.length > 0) {
        this.#silentMs = 0;
        this.#sentSinceReceive = false;
      }
      for (const packet of packets) {
        try {
          this.#handle(packet);
        } catch (error) {
          // An exception from the application's callback must not escape into the socket.
          this.#fail(`application callback failed: ${messageOf(error)}`);
        }
        if (!this.#socket) return; // the packet closed the connection
      }
    }
  }

  #handle(packet: IncomingPacket): void {
    if (this.#state === "awaiting-connack") {
      if (packet.type !== PacketType.CONNACK) {
        this.#fail(`protocol error: packet type ${packet.type} before CONNACK`);
        return;
      }
      if (packet.returnCode !== 0) {
        this.#fail(`broker refused the connection: ${describeConnackCode(packet.returnCode)}`);
        return;
      }
      this.#state = "connected";
      this.#awaitingMs = -1;
      this.#options.onConnected?.(packet.sessionPresent);
      return;
    }
    switch (packet.type) {
      case PacketType.CONNACK:
        this.#fail("protocol error: a second CONNACK");
        return;
      case PacketType.PUBACK:
        this.#options.onPuback?.(packet.packetId);
        return;
      case PacketType.PINGRESP:
        this.#awaitingMs = -1;
        return;
      case PacketType.PUBLISH:
        if (packet.qos === 1) this.#send(encodePuback(packet.packetId));
        this.#options.onMessage?.(packet);
        return;
      case PacketType.SUBACK:
        this.#options.onSuback?.(packet.packetId, packet.grants);
        return;
      default:
        // UNSUBACK: nothing unsubscribes.
        return;
    }
  }

  #tick(): void {
    const timeout = this.#options.responseTimeoutMs ?? 10_000;
    if (this.#awaitingMs >= 0) {
      this.#awaitingMs += this.#tickMs;
      if (this.#awaitingMs >= timeout) {
        if (this.#state === "disconnecting") this.#finish("");
        else this.#fail(this.#state === "connected" ? "no PINGRESP from broker" : "no CONNACK from broker");
        return;
      }
    }
    if (this.#state !== "connected") return;
    this.#idleMs += this.#tickMs;
    this.#silentMs += this.#tickMs;
    const keepAliveMs = this.#options.connect.keepAliveSeconds * 1000;
    if (keepAliveMs <= 0 || this.#awaitingMs >= 0) return;
    // Ping when we have been quiet (spec 3.1.2.10), and also when the broker has been silent for a
    // keep-alive period although it owes us answers: a half-open connection shows up only that way.
    if (this.#idleMs >= keepAliveMs || (this.#sentSinceReceive && this.#silentMs >= keepAliveMs)) {
      this.#awaitingMs = 0;
      this.#send(encodePingreq());
    }
  }

  #fail(reason: string): void {
    this.#finish(reason || "connection failed");
  }

  #finish(reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeReason = reason;
    if (this.#ticker) Timer.clear(this.#ticker);
    this.#ticker = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#queue = [];
    // The SDK's sockets throw if closed from inside their own callbacks: close on the next turn.
    if (socket) Timer.set(() => closeQuietly(socket), 0);
    try {
      this.#options.onClose?.(reason);
    } catch {
      // the connection is already gone; nothing more to report it to
    }
  }

  get closeReason(): string | undefined {
    return this.#closeReason;
  }
}

function closeQuietly(socket: StreamSocket): void {
  try {
    socket.close();
  } catch {
    // already closed by the peer
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
