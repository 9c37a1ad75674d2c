// embedded:io/socket/tcp on Node (node:net), with the SDK's Linux socket semantics.

import { connect } from "node:net";
import { HostSocketBase, HostStreamSocket, type StreamCallbacks } from "./stream-socket.ts";

export interface TCPOptions extends StreamCallbacks<TCP> {
  address: string;
  port: number;
  nodelay?: boolean;
  format?: "buffer";
}

export default class TCP extends HostSocketBase {
  constructor(options: TCPOptions) {
    super();
    if (typeof options.address !== "string" || !/^\d{1,3}(\.\d{1,3}){3}$/.test(options.address)) throw new Error("invalid address");
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new RangeError("invalid port");
    const stream = connect({ host: options.address, port: options.port, noDelay: options.nodelay ?? false });
    this.socket = new HostStreamSocket<TCP>(this as TCP, stream, "connect", options, "tcp") as HostStreamSocket<object>;
  }
}
