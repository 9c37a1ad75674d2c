// guardedTCP: an exception thrown inside the TLS socket's handling of a TCP callback (a TLS alert, a
// rejected certificate) becomes a closed socket and onError, not an exception out of the callback
// (which aborts XS; on the simulator it did: "XS abort: unhandled exception").

import { test } from "node:test";
import assert from "node:assert/strict";
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
  assert.doesNotThrow(() => inner.options.onReadable!(10));
  assert.doesNotThrow(() => inner.options.onReadable!(10), "later callbacks are ignored");
  assert.equal(inner.closed, false, "not closed inside the callback");
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(inner.closed, true);
  assert.equal(errors, 1);
  assert.deepEqual(lines, ["tls: SSL: alert: bad certificate"]);
  assert.equal(socket.write(new Uint8Array(3)), 1536, "the other methods pass through");
  (socket as unknown as Record<string, number>).readable = 7; // the TLS socket's own bookkeeping
  assert.equal((socket as unknown as Record<string, number>).readable, 7);
});
