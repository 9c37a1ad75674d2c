// guardedTCP: an exception thrown inside the TLS socket's handling of a TCP callback (a TLS alert, a
// rejected certificate) becomes a closed socket and onError, not an exception out of the callback
// (which aborts XS; on the simulator it did: "XS abort: unhandled exception").

import { test, expect } from "vitest";
import { guardedTCP } from "../src/net/guarded-tcp.ts";

class ScriptedTCP {
  static last: ScriptedTCP;
  closed = false;
  constructor(readonly options: { onReadable?: (n: number) => void; onWritable?: (n: number) => void; onError?: () => void }) {
    ScriptedTCP.last = this;
  }
  read() {
    return undefined;
  }
  write() {
    return 1536;
  }
  close() {
    this.closed = true;
  }
}

test("guardedTCP: a throw inside onReadable closes the socket and reports onError once", async () => {
  const lines: string[] = [];
  let errors = 0;
  const Guarded = guardedTCP(ScriptedTCP, (line) => lines.push(line));
  const socket = new Guarded({
    address: "127.0.0.1", port: 1,
    onReadable: () => {
      throw new Error("SSL: alert: bad certificate");
    },
    onWritable: () => {},
    onError: () => errors++,
  });
  const inner = ScriptedTCP.last;
  expect(() => inner.options.onReadable!(10)).not.toThrow();
  expect(() => inner.options.onReadable!(10)).not.toThrow();
  expect(inner.closed, "not closed inside the callback").toBe(false);
  await new Promise((r) => setTimeout(r, 5));
  expect(inner.closed).toBe(true);
  expect(errors).toBe(1);
  expect(lines).toStrictEqual(["tls: SSL: alert: bad certificate"]);
  expect(socket.write(new Uint8Array(3)), "the other methods pass through").toBe(1536);
  (socket as unknown as Record<string, number>).readable = 7; // the TLS socket's own bookkeeping
  expect((socket as unknown as Record<string, number>).readable).toBe(7);
});
