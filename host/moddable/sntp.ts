// The SDK's "sntp" module on Node: one SNTP exchange (RFC 4330) over UDP, resent every 5 s and given
// up after 5 tries, the callback told SNTP.retry, SNTP.time (seconds since the epoch) or SNTP.error,
// as the SDK's client does. The host target's clock is the host's, so the firmware asks only when
// that clock is before 2025.

import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns";

/** Seconds from the NTP era (1900) to the Unix epoch. */
const NTP_TO_UNIX = 2_208_988_800;
const RESEND_MS = 5000;
const TRIES = 5;

export default class SNTP {
  static readonly time = 1;
  static readonly retry = 2;
  static readonly error = -1;
  #socket: Socket | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: { host: string }, callback: (message: number, value?: number | string) => void) {
    let tries = TRIES;
    const fail = (why: string) => {
      this.close();
      callback(SNTP.error, why);
    };
    lookup(options.host, { family: 4 }, (error, address) => {
      if (this.#closed) return; // closed while looking up
      if (error) return fail(`cannot resolve ${options.host}`);
      const socket = (this.#socket = createSocket("udp4"));
      const request = Buffer.alloc(48);
      request[0] = 0x23; // version 4, client mode
      const send = () => socket.send(request, 123, address);
      socket.on("message", (message) => {
        if (message.length !== 48) return fail("unexpected SNTP packet length");
        if ((message[0] & 7) !== 4) return fail("unexpected SNTP packet first byte");
        if (message[1] === 0) return; // Kiss-o'-Death: discarded
        const seconds = message.readUInt32BE(40) - NTP_TO_UNIX;
        this.close();
        callback(SNTP.time, seconds);
      });
      socket.on("error", (e) => fail(e.message));
      this.#timer = setInterval(() => {
        if (--tries === 0) return fail("no response from SNTP server");
        send();
        callback(SNTP.retry);
      }, RESEND_MS);
      send();
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#socket?.close();
    this.#socket = undefined;
  }
}
