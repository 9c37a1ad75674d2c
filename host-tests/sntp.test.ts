// The host target's "sntp" module against a local SNTP responder on UDP port 123 (this machine and CI
// run as root): the firmware's ClockSync drives it exactly as it drives the SDK's client on a device.

import { test, expect, onTestFinished } from "vitest";
import { createSocket } from "node:dgram";
import SNTP from "../host/moddable/sntp.ts";
import { ClockSync, SNTP_TIME } from "../src/net/clock-sync.ts";

const NTP_TO_UNIX = 2_208_988_800;

/** Answers every request with `seconds` (or a malformed packet) on 127.0.0.1:123. */
async function responder(answer: (request: Buffer) => Buffer | undefined) {
  const socket = createSocket("udp4");
  const requests: Buffer[] = [];
  socket.on("message", (message, from) => {
    requests.push(message);
    const reply = answer(message);
    if (reply) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(123, "127.0.0.1", () => resolve());
  });
  onTestFinished(() => new Promise<void>((r) => socket.close(() => r())));
  return requests;
}

function serverPacket(seconds: number): Buffer {
  const reply = Buffer.alloc(48);
  reply[0] = 0x24; // version 4, server mode
  reply[1] = 2; // stratum
  reply.writeUInt32BE(seconds + NTP_TO_UNIX, 40);
  return reply;
}

test("sntp: a client request in client mode gets the server's transmit time as seconds since the epoch", async () => {
  const requests = await responder(() => serverPacket(1_795_000_000));
  const answer = await new Promise<[number, unknown]>((resolve) => {
    const client = new SNTP({ host: "127.0.0.1" }, (message, value) => {
      if (message !== SNTP.retry) resolve([message, value]);
    });
    onTestFinished(() => client.close());
  });
  expect(answer).toStrictEqual([SNTP.time, 1_795_000_000]);
  expect(requests[0].length).toBe(48);
  expect(requests[0][0] & 7, "client mode").toBe(3);
});

test("sntp: a malformed answer is an error; ClockSync backs off and takes the next good answer", async () => {
  let replies = 0;
  await responder(() => (++replies === 1 ? Buffer.alloc(12) : serverPacket(1_795_000_123)));
  const reports: string[] = [];
  let now = 0;
  const set: number[] = [];
  const sync = new ClockSync({
    earliestValid: Date.UTC(2025, 0, 1),
    now: () => now,
    setTime: (seconds) => void (set.push(seconds), (now = seconds * 1000)),
    ask: (host, callback) => new SNTP({ host }, callback),
    hosts: ["127.0.0.1"],
    retryDelay: () => 10,
    timers: { set: (callback, ms) => setTimeout(callback, ms), clear: (t) => clearTimeout(t as ReturnType<typeof setTimeout>) },
    report: (line) => void reports.push(line),
  });
  onTestFinished(() => sync.stop());
  const done = new Promise<void>((resolve) => sync.start(resolve));
  await done;
  expect(set).toStrictEqual([1_795_000_123]);
  expect(reports[0]).toBe("clock: SNTP from 127.0.0.1 failed (unexpected SNTP packet length); asking again in 10 ms");
  expect(reports.at(-1)).toBe("clock set from 127.0.0.1 (SNTP) after 1 failed attempts");
  expect(SNTP_TIME).toBe(SNTP.time);
});
