// Setting a clock that was not set at boot: SNTP asked again with backoff until it answers.

import { test, equal, deepEqual, assert } from "./api";
import { ClockSync, SNTP_ERROR, SNTP_RETRY, SNTP_TIME, sntpRetryDelay } from "../../src/net/clock-sync";

const VALID = Date.UTC(2025, 0, 1);

function rig(options: { now?: number; hosts?: string[]; askThrows?: boolean } = {}) {
  let now = options.now ?? 5_000; // 1970: never set
  const timers = new Map<number, { at: number; callback: () => void }>();
  let nextTimer = 1;
  let clock = 0;
  const asked: { host: string; answer: (message: number, value?: unknown) => void; closed: number }[] = [];
  const reports: string[] = [];
  const set: number[] = [];
  let onSet = 0;
  const sync = new ClockSync({
    earliestValid: VALID,
    now: () => now,
    setTime: (seconds) => {
      set.push(seconds);
      now = seconds * 1000;
    },
    ask: (host, callback) => {
      if (options.askThrows) throw new Error("DNS queue full");
      const entry = { host, answer: callback, closed: 0 };
      asked.push(entry);
      return { close: () => void entry.closed++ };
    },
    hosts: options.hosts ?? ["pool.ntp.org"],
    retryDelay: (failures) => 1000 * failures,
    timers: {
      set: (callback, ms) => (timers.set(nextTimer, { at: clock + ms, callback }), nextTimer++),
      clear: (handle) => void timers.delete(handle as number),
    },
    report: (line) => void reports.push(line),
  });
  const advance = (ms: number) => {
    clock += ms;
    for (const [id, t] of [...timers]) if (t.at <= clock) {
      timers.delete(id);
      t.callback();
    }
  };
  const start = () => sync.start(() => void onSet++);
  return { start, sync, asked, reports, set, timers, advance, get onSet() { return onSet; } };
}

test("clock sync: a clock already set asks nobody", () => {
  const r = rig({ now: VALID + 1 });
  r.start();
  equal(r.asked.length, 0);
  assert(r.sync.valid, "valid");
});

test("clock sync: an unset clock asks SNTP and sets the time from the answer", () => {
  const r = rig();
  r.start();
  equal(r.asked.length, 1);
  r.asked[0].answer(SNTP_RETRY); // the client resends by itself
  equal(r.set.length, 0);
  r.asked[0].answer(SNTP_TIME, 1_795_000_000);
  deepEqual(r.set, [1_795_000_000]);
  assert(r.sync.valid, "valid after the answer");
  equal(r.onSet, 1);
  equal(r.reports.at(-1), "clock set from pool.ntp.org (SNTP) after 0 failed attempts");
  equal(r.asked[0].closed, 0, "the SDK client closed itself before answering");
});

test("clock sync: failures back off and rotate through the servers until one answers", () => {
  const r = rig({ hosts: ["a.ntp", "b.ntp"] });
  r.start();
  r.asked[0].answer(SNTP_ERROR, "no response from SNTP server");
  equal(r.reports.at(-1), "clock: SNTP from a.ntp failed (no response from SNTP server); asking again in 1000 ms");
  r.advance(999);
  equal(r.asked.length, 1, "not before the backoff");
  r.advance(1);
  equal(r.asked[1].host, "b.ntp");
  r.asked[1].answer(SNTP_ERROR, "cannot resolve b.ntp");
  r.advance(1999);
  equal(r.asked.length, 2);
  r.advance(1);
  equal(r.asked[2].host, "a.ntp");
  r.asked[2].answer(SNTP_TIME, 1_795_000_000);
  deepEqual(r.set, [1_795_000_000]);
  equal(r.timers.size, 0);
});

test("clock sync: an answer before any valid time is a failure, not a clock set to 1970", () => {
  const r = rig();
  r.start();
  r.asked[0].answer(SNTP_TIME, 1000);
  deepEqual(r.set, []);
  assert(/failed \(it answered 1000, before any valid time\)/.test(r.reports.at(-1)!), r.reports.at(-1)!);
  equal(r.timers.size, 1, "asks again later");
});

test("clock sync: a client that cannot start is a failure with the same backoff; stop ends everything", () => {
  const r = rig({ askThrows: true });
  r.start();
  assert(/failed \(DNS queue full\); asking again in 1000 ms/.test(r.reports.at(-1)!), r.reports.at(-1)!);
  r.sync.stop();
  equal(r.timers.size, 0);
  const s = rig();
  s.start();
  s.sync.stop();
  equal(s.asked[0].closed, 1, "a pending exchange is closed");
  s.asked[0].answer(SNTP_TIME, 1_795_000_000);
  deepEqual(s.set, [], "an answer after stop is ignored");
});

test("clock sync: the retry delay grows to its cap with jitter inside [base/2, ceiling]", () => {
  equal(sntpRetryDelay(1, () => 0), 1000);
  equal(sntpRetryDelay(1, () => 1), 2000);
  equal(sntpRetryDelay(3, () => 1), 8000);
  equal(sntpRetryDelay(30, () => 1), 300_000);
  equal(sntpRetryDelay(30, () => 0), 1000);
  equal(sntpRetryDelay(1000, () => 0.5), 150_500);
});
