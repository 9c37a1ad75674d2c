// Whether the firmware's network is idle, for the accelerated clock of a soak (docs/soak.md). A
// socket is busy while it connects (TCP and TLS handshake), while bytes the firmware wrote have not
// all been taken by the OS, and while an MQTT request it sent (CONNECT, QoS 1 PUBLISH, SUBSCRIBE,
// PINGREQ) has had no reply; the bytes are counted as MQTT packets in each direction. A broker that
// makes no progress for REPLY_WAIT_MS of real time no longer holds the clock back: the firmware's
// own timeouts then decide, as with a broker that went silent.

/** How long (real ms) an unanswered request keeps the network busy without any progress. */
export const REPLY_WAIT_MS = 5000;

const realNow = () => performance.timeOrigin + performance.now();

/** Finds MQTT packet boundaries in a byte stream and hands each packet's first byte on. */
class PacketStarts {
  #skip = 0;
  #header: number[] = [];

  feed(bytes: Uint8Array, onPacket: (first: number) => void): void {
    let i = 0;
    while (i < bytes.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, bytes.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      this.#header.push(bytes[i++]);
      // The fixed header: the type byte, then the remaining length, 1 to 4 bytes of 7 bits.
      if (this.#header.length < 2 || (this.#header[this.#header.length - 1] & 0x80) !== 0) continue;
      let length = 0;
      for (let k = this.#header.length - 1; k >= 1; k--) length = length * 128 + (this.#header[k] & 0x7f);
      onPacket(this.#header[0]);
      this.#header = [];
      this.#skip = length;
    }
  }
}

/** Packets that the broker answers: CONNECT, PUBLISH at QoS 1, SUBSCRIBE, PINGREQ. */
const isRequest = (first: number) => {
  const type = first >> 4;
  return type === 1 || type === 8 || type === 12 || (type === 3 && ((first >> 1) & 3) === 1);
};
/** CONNACK, PUBACK, SUBACK, PINGRESP. */
const isReply = (first: number) => [2, 4, 9, 13].includes(first >> 4);

interface SocketActivity {
  connecting: boolean;
  /** Written bytes the OS has not taken yet (the firmware waits for onWritable). */
  sending: boolean;
  outstanding: number;
  lastProgress: number;
  out: PacketStarts;
  in: PacketStarts;
}

export class NetworkActivity {
  #sockets = new Map<object, SocketActivity>();

  opening(socket: object): void {
    this.#sockets.set(socket, { connecting: true, sending: false, outstanding: 0, lastProgress: realNow(), out: new PacketStarts(), in: new PacketStarts() });
  }
  connected(socket: object): void {
    const s = this.#sockets.get(socket);
    if (s) s.connecting = false;
  }
  wrote(socket: object, bytes: Uint8Array): void {
    const s = this.#sockets.get(socket);
    if (!s) return;
    s.sending = true;
    s.lastProgress = realNow();
    s.out.feed(bytes, (first) => {
      if (isRequest(first)) s.outstanding++;
    });
  }
  /** The OS took every byte written (the firmware is about to be told it may write again). */
  sent(socket: object): void {
    const s = this.#sockets.get(socket);
    if (s) s.sending = false;
  }
  received(socket: object, bytes: Uint8Array): void {
    const s = this.#sockets.get(socket);
    if (!s) return;
    s.lastProgress = realNow();
    s.in.feed(bytes, (first) => {
      if (isReply(first) && s.outstanding > 0) s.outstanding--;
    });
  }
  closed(socket: object): void {
    this.#sockets.delete(socket);
  }

  idle(): boolean {
    const now = realNow();
    for (const s of this.#sockets.values()) {
      if (s.connecting || s.sending) return false;
      if (s.outstanding > 0 && now - s.lastProgress < REPLY_WAIT_MS) return false;
    }
    return true;
  }
}

/** The host target's one network (the firmware's sockets report to it). */
export const networkActivity = new NetworkActivity();
