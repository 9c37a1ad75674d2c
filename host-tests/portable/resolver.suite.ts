// The broker's address at each connect: literal and fixed addresses, lookups that answer, fail,
// never answer or answer late, and the last good address while DNS is down.

import { test, equal, deepEqual, assert } from "./api";
import { BrokerResolver, isHostName, type LookupResult, type ResolveFunction } from "../../src/net/broker-resolver";

/** Timers on a hand-moved clock, and a resolver whose answers the test gives. */
function rig(options: { host?: string; fixedAddress?: string; lastGood?: string; resolveThrows?: Error } = {}) {
  let now = 0;
  const timers = new Map<number, { at: number; callback: () => void }>();
  let nextTimer = 1;
  const pending: { host: string; answer: (address: string | undefined) => void }[] = [];
  const remembered: string[] = [];
  const resolve: ResolveFunction = (host, callback) => {
    if (options.resolveThrows) throw options.resolveThrows;
    pending.push({ host, answer: (address) => callback(host, address) });
  };
  const resolver = new BrokerResolver({
    host: options.host ?? "broker.example", fixedAddress: options.fixedAddress, timeoutMs: 5000, resolve, lastGood: options.lastGood,
    timers: {
      set: (callback, ms) => (timers.set(nextTimer, { at: now + ms, callback }), nextTimer++),
      clear: (handle) => void timers.delete(handle as number),
    },
    onNewAddress: (address) => void remembered.push(address),
  });
  const results: LookupResult[] = [];
  const lookup = () => resolver.lookup((result) => void results.push(result));
  const advance = (ms: number) => {
    now += ms;
    for (const [id, t] of [...timers]) if (t.at <= now) {
      timers.delete(id);
      t.callback();
    }
  };
  return { resolver, results, lookup, pending, remembered, timers, advance };
}

test("broker resolver: an IPv4 host or a fixed address needs no lookup", () => {
  const literal = rig({ host: "192.0.2.7" });
  literal.lookup();
  deepEqual(literal.results, [{ address: "192.0.2.7" }]);
  equal(literal.pending.length, 0);
  const fixed = rig({ fixedAddress: "192.0.2.9" });
  fixed.lookup();
  deepEqual(fixed.results, [{ address: "192.0.2.9" }]);
  equal(fixed.pending.length, 0);
});

test("broker resolver: localhost names are the loopback address without a lookup (RFC 6761)", () => {
  for (const host of ["localhost", "LocalHost.", "broker.localhost"]) {
    const r = rig({ host });
    r.lookup();
    deepEqual(r.results, [{ address: "127.0.0.1" }], host);
    equal(r.pending.length, 0);
  }
  const near = rig({ host: "localhost.example" });
  near.lookup();
  equal(near.pending.length, 1, "only localhost itself and names under it");
});

test("broker resolver: a name is looked up at each connect and a new address is remembered once", () => {
  const r = rig();
  r.lookup();
  equal(r.results.length, 0, "waits for the answer");
  equal(r.pending[0].host, "broker.example");
  r.pending[0].answer("198.51.100.4");
  deepEqual(r.results, [{ address: "198.51.100.4" }]);
  equal(r.timers.size, 0, "the timeout is cleared");
  r.lookup();
  r.pending[1].answer("198.51.100.4");
  r.lookup();
  r.pending[2].answer("198.51.100.5");
  deepEqual(r.results.slice(1), [{ address: "198.51.100.4" }, { address: "198.51.100.5" }]);
  deepEqual(r.remembered, ["198.51.100.4", "198.51.100.5"], "written only when it changes");
});

test("broker resolver: a name not found fails the connect with the reason", () => {
  const r = rig();
  r.lookup();
  r.pending[0].answer(undefined);
  deepEqual(r.results, [{ error: "broker.example not found" }]);
  deepEqual(r.remembered, []);
});

test("broker resolver: a lookup that never answers times out, and its late answer is ignored", () => {
  const r = rig();
  r.lookup();
  r.advance(4999);
  equal(r.results.length, 0);
  r.advance(1);
  deepEqual(r.results, [{ error: "lookup of broker.example timed out after 5000 ms" }]);
  r.pending[0].answer("198.51.100.4");
  equal(r.results.length, 1, "done is called once");
  deepEqual(r.remembered, [], "a late answer is not taken");
});

test("broker resolver: while DNS is down the last good address is used, and says so", () => {
  const r = rig();
  r.lookup();
  r.pending[0].answer("198.51.100.4");
  r.lookup();
  r.pending[1].answer(undefined);
  r.lookup();
  r.advance(5000);
  deepEqual(r.results, [
    { address: "198.51.100.4" },
    { address: "198.51.100.4", note: "broker.example not found; using 198.51.100.4, which worked before" },
    { address: "198.51.100.4", note: "lookup of broker.example timed out after 5000 ms; using 198.51.100.4, which worked before" },
  ]);
});

test("broker resolver: the address kept from an earlier boot serves while DNS is down; a garbled one is not used", () => {
  const kept = rig({ lastGood: "203.0.113.8" });
  kept.lookup();
  kept.pending[0].answer(undefined);
  equal((kept.results[0] as { address: string }).address, "203.0.113.8");
  const garbled = rig({ lastGood: "203.0.113" });
  garbled.lookup();
  garbled.pending[0].answer(undefined);
  deepEqual(garbled.results, [{ error: "broker.example not found" }]);
});

test("broker resolver: a resolver that throws or answers with something other than IPv4 fails the lookup", () => {
  const throwing = rig({ resolveThrows: new Error("DNS queue full") });
  throwing.lookup();
  deepEqual(throwing.results, [{ error: "lookup of broker.example failed: DNS queue full" }]);
  equal(throwing.timers.size, 0);
  const v6 = rig();
  v6.lookup();
  v6.pending[0].answer("2001:db8::1");
  deepEqual(v6.results, [{ error: 'lookup of broker.example gave "2001:db8::1", not an IPv4 address' }]);
});

test("broker resolver: cancel drops a pending lookup and its timer", () => {
  const r = rig();
  r.lookup();
  r.resolver.cancel();
  equal(r.timers.size, 0);
  r.pending[0].answer("198.51.100.4");
  r.advance(10_000);
  equal(r.results.length, 0);
});

test("broker resolver: host names follow RFC 1123", () => {
  for (const name of ["localhost", "a1b2-ats.iot.us-east-1.amazonaws.com", "broker.plant.", "x"]) assert(isHostName(name), name);
  for (const name of ["", "a..b", "-a.b", "a-.b", "a_b", "a b", `${"a".repeat(64)}.b`, `${"a.".repeat(127)}ab`]) assert(!isHostName(name), name);
});
