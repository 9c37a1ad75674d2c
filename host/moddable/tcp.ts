// embedded:io/socket/tcp on Node (node:net), with the SDK's Linux socket semantics.

import { connect } from "node:net";
import { HostStreamSocket, type StreamCallbacks } from "./stream-socket.ts";

export interface TCPOptions extends StreamCallbacks<TCP> {
  address: string;
  port: number;
  nodelay?: boolean;
  format?: "buffer";
}

export default class TCP {
  #socket: HostStreamSocket<TCP>;
  constructor(options: TCPOptions) {
    if (typeof options.address !== "string" || !/^\d{1,3}(\.\d{1,3}){3}$/.test(options.address)) throw new Error("invalid address");
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new RangeError("invalid port");
    const stream = connect({ host: options.address, port: options.port, noDelay: options.nodelay ?? false });
    this.#socket = new HostStreamSocket<TCP>(this as TCP, stream, "connect", options, "tcp");
  }
  read(): ArrayBuffer | undefined {
    return this.#socket.read();
  }
  write(data: ArrayBuffer | ArrayBufferView): number | undefined {
    return this.#socket.write(data);
  }
  close(): void {
    this.#socket.close();
  }
}
