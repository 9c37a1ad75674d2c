// ECMA-419 stream socket semantics over a Node stream, as the SDK's Linux TCP socket behaves:
// a fixed 1536-byte send window (write() throws "would block" past it and returns what is left;
// onWritable reports a full window once the OS took the bytes), a 1536-byte receive buffer read
// whole by read(), and onError once when the peer closes or the connection fails.

import type { Duplex } from "node:stream";
import { traceSink } from "./runtime.ts";
import { networkActivity } from "./network-activity.ts";

export const SOCKET_BUFFER_BYTES = 1536;

export interface StreamCallbacks<T> {
  onReadable?: (this: T, count: number) => void;
  onWritable?: (this: T, count: number) => void;
  onError?: (this: T) => void;
}

type BufferSource = ArrayBuffer | ArrayBufferView;

/** What each write costs beyond its data (TLS records), and what the socket reports as writable. */
export interface Framing {
  record: number;
  reported: number;
  afterWrite: number;
}
const NO_FRAMING: Framing = { record: 0, reported: 0, afterWrite: 0 };

/** Streams not yet closed: a host that exits must let them flush first (see socketsClosed). */
const openStreams = new Set<Duplex>();

/**
 * Resolves true once every socket the firmware opened has closed (what it wrote, DISCONNECT
 * included, has gone out), or false after timeoutMs.
 */
export async function socketsClosed(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (openStreams.size > 0) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

export class HostStreamSocket<T extends object> {
  #stream: Duplex;
  #target: T;
  #callbacks: StreamCallbacks<T>;
  #incoming: Buffer[] = [];
  #incomingBytes = 0;
  #writable = 0;
  #open = true;
  #failed = false;
  #label: string;
  #framing: Framing;

  constructor(target: T, stream: Duplex, readyEvent: string, callbacks: StreamCallbacks<T>, label: string, framing = NO_FRAMING) {
    this.#target = target;
    this.#stream = stream;
    this.#callbacks = callbacks;
    this.#label = label;
    this.#framing = framing;
    openStreams.add(stream);
    networkActivity.opening(this);
    stream.once("close", () => {
      openStreams.delete(stream);
      networkActivity.closed(this);
    });
    stream.once(readyEvent, () => {
      networkActivity.connected(this);
      this.#refill();
    });
    stream.on("data", (chunk: Buffer) => this.#received(chunk));
    // A reset or broken pipe is the peer closing (as brokers do right after DISCONNECT): not worth a line.
    stream.on("error", (error: NodeJS.ErrnoException) => this.#fail(error.code === "ECONNRESET" || error.code === "EPIPE" ? "closed by peer" : error.message));
    stream.on("close", () => this.#fail("closed by peer"));
  }


  read(): ArrayBuffer | undefined {
    if (this.#incomingBytes === 0) return undefined;
    const all = Buffer.concat(this.#incoming, this.#incomingBytes);
    this.#incoming = [];
    this.#incomingBytes = 0;
    if (this.#open) this.#stream.resume();
    if (this.#failed) queueMicrotask(() => this.#reportError());
    return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  }

  /** Like the SDK: nothing is returned (and nothing sent) once the socket is closed or has failed. */
  write(data: BufferSource): number | undefined {
    if (!this.#open || this.#failed) {
      traceSink.write("write to closed socket\n");
      return undefined;
    }
    const bytes = Buffer.from(toBuffer(data)); // a copy: the caller may reuse its buffer
    const needed = bytes.length + this.#framing.record;
    if (needed > this.#writable) throw new Error("would block");
    this.#writable -= needed;
    networkActivity.wrote(this, bytes);
    this.#stream.write(bytes, () => {
      if (this.#open && this.#stream.writableLength === 0) this.#refill();
    });
    return Math.max(0, this.#writable - this.#framing.afterWrite);
  }

  /** Closes after the bytes already written are sent, as closing the SDK's file descriptor does. */
  close(): void {
    if (!this.#open && this.#stream.destroyed) return;
    this.#open = false;
    networkActivity.closed(this);
    this.#stream.end();
    setTimeout(() => this.#stream.destroy(), 1000).unref();
  }

  #refill(): void {
    if (!this.#open || this.#failed) return;
    this.#writable = SOCKET_BUFFER_BYTES;
    setImmediate(() => {
      // The count is read when the callback runs, as the SDK's trigger does.
      networkActivity.sent(this);
      if (this.#open && !this.#failed) this.#callbacks.onWritable?.call(this.#target, Math.max(0, this.#writable - this.#framing.reported));
    });
  }

  #received(chunk: Buffer): void {
    networkActivity.received(this, chunk);
    this.#incoming.push(chunk);
    this.#incomingBytes += chunk.length;
    if (this.#incomingBytes >= SOCKET_BUFFER_BYTES) this.#stream.pause();
    if (this.#open) this.#callbacks.onReadable?.call(this.#target, this.#incomingBytes);
  }

  #fail(reason: string): void {
    if (this.#failed || !this.#open) return;
    this.#failed = true;
    networkActivity.closed(this);
    if (reason !== "closed by peer") traceSink.write(`host ${this.#label}: ${reason}\n`);
    // Like the device, bytes already received are readable before the error is reported.
    if (this.#incomingBytes === 0) queueMicrotask(() => this.#reportError());
  }

  #reportError(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#callbacks.onError?.call(this.#target);
  }
}

export function toBuffer(data: ArrayBuffer | ArrayBufferView): Buffer {
  return data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The ECMA-419 socket methods, shared by the host TCP and TLS classes. */
export class HostSocketBase {
  protected socket!: HostStreamSocket<object>;
  read(): ArrayBuffer | undefined {
    return this.socket.read();
  }
  write(data: ArrayBuffer | ArrayBufferView): number | undefined {
    return this.socket.write(data);
  }
  close(): void {
    this.socket.close();
  }
}
