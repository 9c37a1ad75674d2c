// The job document parser and the AWS IoT Jobs client, driven message by message through a fake
// broker that records what the device publishes.

import { test, equal, deepEqual, assert, throws } from "./api";
import { parseUpdateDocument, compareVersions, UPDATE_OPERATION } from "../../src/ota/job-document";
import { JobsClient, type JobExecution } from "../../src/ota/jobs-client";
import { base64Decode, base64Encode } from "../../src/ota/base64";
import { toHex } from "../../src/ota/sha256";

const SHA = "a".repeat(64);
const SIG = base64Encode(Uint8Array.from({ length: 70 }, (_, i) => i));
const LIMITS = { maxImageBytes: 0x180000 };

export function updateDocument(overrides: Record<string, unknown> = {}, image: Record<string, unknown> = {}): Record<string, unknown> {
  return { operation: UPDATE_OPERATION, version: "0.4.0", image: { url: "https://bucket.s3.amazonaws.com/fw/0.4.0.bin", size: 100_000, sha256: SHA, signature: SIG, ...image }, ...overrides };
}

test("ota job document: a good document, by URL and by MQTT stream", () => {
  const r = parseUpdateDocument(updateDocument({}, { blockSize: 8192 }), LIMITS);
  assert(r.ok, "parsed");
  if (!r.ok) return;
  equal(r.document.version, "0.4.0");
  deepEqual(r.document.source, { kind: "https", url: "https://bucket.s3.amazonaws.com/fw/0.4.0.bin" });
  equal(r.document.size, 100_000);
  equal(toHex(r.document.sha256), SHA);
  equal(r.document.signature.length, 70);
  equal(r.document.blockSize, 8192);
  equal(r.document.allowDowngrade, false);
  const s = parseUpdateDocument(updateDocument({}, { url: undefined, stream: { id: "fw-stream_1", fileId: 0 } }), LIMITS);
  assert(s.ok, "stream parsed");
  if (s.ok) deepEqual(s.document.source, { kind: "stream", streamId: "fw-stream_1", fileId: 0 });
});

test("ota job document: unknown job types and malformed documents are refused with a reason", () => {
  const cases: [unknown, RegExp][] = [
    [null, /not an object/],
    [[1], /not an object/],
    [{ operation: "reboot" }, /unknown job type: reboot/],
    [{ version: "1.0.0" }, /unknown job type: no operation/],
    [updateDocument({ version: "v1" }), /version/],
    [updateDocument({ version: 4 }), /version/],
    [updateDocument({ image: "x" }), /no image/],
    [updateDocument({}, { url: "http://plain.example/fw.bin" }), /https/],
    [updateDocument({}, { url: undefined }), /url or stream/],
    [updateDocument({}, { stream: { id: "s", fileId: 0 } }), /both/],
    [updateDocument({}, { url: undefined, stream: { id: "a/b", fileId: 0 } }), /stream.id/],
    [updateDocument({}, { url: undefined, stream: { id: "s", fileId: 256 } }), /fileId/],
    [updateDocument({}, { size: 0 }), /size/],
    [updateDocument({}, { size: 1.5 }), /size/],
    [updateDocument({}, { size: "100" }), /size/],
    [updateDocument({}, { size: 0x180001 }), /too large/],
    [updateDocument({}, { sha256: "a".repeat(63) }), /sha256/],
    [updateDocument({}, { sha256: "g".repeat(64) }), /sha256/],
    [updateDocument({}, { signature: "not base64!" }), /signature/],
    [updateDocument({}, { signature: "AAAA" }), /signature/],
    [updateDocument({}, { blockSize: 3000 }), /blockSize/],
    [updateDocument({}, { blockSize: 2048 }), /blockSize/],
    [updateDocument({}, { blockSize: 65536 }), /blockSize/],
    [updateDocument({ allowDowngrade: "yes" }), /allowDowngrade/],
  ];
  for (const [doc, reason] of cases) {
    const r = parseUpdateDocument(doc, LIMITS);
    assert(!r.ok, `refused: ${JSON.stringify(doc)}`);
    if (!r.ok) assert(reason.test(r.reason), `reason ${r.reason} matches ${reason}`);
  }
});

test("ota job document: versions compare numerically, a pre-release before its release", () => {
  assert(compareVersions("0.10.0", "0.9.9") > 0, "0.10.0 > 0.9.9");
  assert(compareVersions("1.0.0-rc.1", "1.0.0") < 0, "rc before release");
  equal(compareVersions("2.3.4", "2.3.4"), 0);
  throws(() => compareVersions("2.3", "2.3.4"), RangeError);
});

test("ota base64: round trip of every length 0..20, and non-canonical text refused", () => {
  for (let n = 0; n <= 20; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n) & 0xff);
    deepEqual(base64Decode(base64Encode(bytes)), bytes, `length ${n}`);
  }
  equal(base64Encode(Uint8Array.of(0xfb, 0xff)), "+/8=");
  for (const bad of ["A", "AB=C", "A===", "AB?=", "QR==", "QUJ="]) equal(base64Decode(bad), undefined, bad);
});

/** A fake broker: what the client published, and replies as AWS would send them. */
export class FakeJobsBroker {
  sent: { topic: string; payload: any }[] = [];
  online = true;
  time = 1000;
  jobs: JobExecution[] = [];
  gone: string[] = [];
  logs: string[] = [];
  reject?: string;
  readonly client: JobsClient;
  constructor(onJob: (job: JobExecution) => string | undefined = () => undefined) {
    this.client = new JobsClient({
      thing: "press-7",
      now: () => this.time,
      publish: (topic, payload) => {
        if (!this.online) return false;
        this.sent.push({ topic, payload: JSON.parse(payload) });
        return true;
      },
      events: {
        onJob: (job) => {
          this.jobs.push(job);
          return onJob(job);
        },
        onJobGone: (jobId, reason) => this.gone.push(`${jobId}: ${reason}`),
        onLog: (line) => this.logs.push(line),
      },
      responseTimeoutMs: 5000,
    });
  }
  last(): { topic: string; payload: any } {
    return this.sent[this.sent.length - 1];
  }
  deliver(suffix: string, payload: unknown): void {
    assert(this.client.receive(`$aws/things/press-7/jobs/${suffix}`, JSON.stringify(payload)), `jobs topic ${suffix}`);
  }
  /** Answers the last start-next with this execution (or none). */
  startAccepted(execution?: Record<string, unknown>): void {
    const request = this.last();
    equal(request.topic, "$aws/things/press-7/jobs/start-next");
    this.deliver("start-next/accepted", { clientToken: request.payload.clientToken, timestamp: 1, ...(execution ? { execution } : {}) });
  }
  updateReply(accepted: boolean, extra: Record<string, unknown> = {}): void {
    const request = this.last();
    const m = /jobs\/(.+)\/update$/.exec(request.topic);
    assert(m, `last publish is an update: ${request.topic}`);
    this.deliver(`${m![1]}/update/${accepted ? "accepted" : "rejected"}`, { clientToken: request.payload.clientToken, ...extra });
  }
}

const execution = (jobId: string, doc: unknown = updateDocument()) => ({ jobId, status: "QUEUED", versionNumber: 1, executionNumber: 1, jobDocument: doc });

test("ota jobs: subscribes to its own topics, starts the next job at connect, reports to completion, then asks again", () => {
  const b = new FakeJobsBroker();
  deepEqual(b.client.subscriptions, [
    "$aws/things/press-7/jobs/notify-next",
    "$aws/things/press-7/jobs/start-next/accepted",
    "$aws/things/press-7/jobs/start-next/rejected",
    "$aws/things/press-7/jobs/+/update/accepted",
    "$aws/things/press-7/jobs/+/update/rejected",
  ]);
  b.client.connected();
  equal(b.sent.length, 1);
  b.startAccepted(execution("job-1"));
  equal(b.jobs.length, 1);
  equal(b.jobs[0].jobId, "job-1");
  deepEqual(b.jobs[0].document, updateDocument());
  equal(b.client.state, "running");
  b.client.report("IN_PROGRESS", { step: "download", progress: 10 });
  deepEqual(b.last(), { topic: "$aws/things/press-7/jobs/job-1/update", payload: { status: "IN_PROGRESS", statusDetails: { step: "download", progress: "10" }, clientToken: b.last().payload.clientToken } });
  // one request at a time; a newer IN_PROGRESS replaces one not yet sent
  b.client.report("IN_PROGRESS", { progress: 20 });
  b.client.report("IN_PROGRESS", { progress: 30 });
  equal(b.sent.length, 2);
  b.updateReply(true);
  equal(b.sent.length, 3);
  equal(b.last().payload.statusDetails.progress, "30");
  b.client.report("SUCCEEDED", { version: "0.4.0" });
  equal(b.sent.length, 3, "waits for the IN_PROGRESS reply");
  b.updateReply(true);
  equal(b.last().payload.status, "SUCCEEDED");
  equal(b.client.state, "finishing");
  b.updateReply(true);
  equal(b.client.state, "starting");
  equal(b.last().topic, "$aws/things/press-7/jobs/start-next");
  b.startAccepted();
  equal(b.client.state, "idle");
  throws(() => b.client.report("IN_PROGRESS"), Error, /no running job/);
});

test("ota jobs: a job the owner refuses is REJECTED with its reason; notify-next while idle starts the next", () => {
  const b = new FakeJobsBroker((job) => (job.jobId === "bad" ? "unknown job type: reboot" : undefined));
  b.client.connected();
  b.startAccepted();
  equal(b.client.state, "idle");
  b.deliver("notify-next", { timestamp: 2, execution: execution("bad", { operation: "reboot" }) });
  b.startAccepted(execution("bad", { operation: "reboot" }));
  deepEqual(b.last().payload.statusDetails, { reason: "unknown job type: reboot" });
  equal(b.last().payload.status, "REJECTED");
  b.updateReply(true);
  b.startAccepted(execution("good"));
  equal(b.client.currentJobId, "good");
  // a notify-next for another job while one runs means the running one is gone from the queue
  b.deliver("notify-next", { timestamp: 3, execution: execution("good") });
  equal(b.gone.length, 0);
  b.deliver("notify-next", { timestamp: 4 });
  deepEqual(b.gone, ["good: no pending job any more (cancelled?)"]);
  equal(b.client.state, "starting");
});

test("ota jobs: replies with another clientToken or for another job are ignored; unreadable ones are logged", () => {
  const b = new FakeJobsBroker();
  b.client.connected();
  b.deliver("start-next/accepted", { clientToken: "someone-else", execution: execution("x") });
  equal(b.jobs.length, 0);
  b.startAccepted(execution("job-1"));
  b.client.report("IN_PROGRESS", { step: "download" });
  b.deliver("job-9/update/accepted", { clientToken: b.last().payload.clientToken });
  b.client.report("IN_PROGRESS", { step: "verify" });
  equal(b.sent.length, 2, "still waiting for the job-1 reply");
  assert(b.client.receive("$aws/things/press-7/jobs/notify-next", "{not json"), "own topic");
  assert(b.logs.some((l) => /unreadable/.test(l)), "logged");
  equal(b.client.receive("factory/press-7/command", "{}"), false);
});

test("ota jobs: a lost request is sent again after the timeout and after a reconnect; a terminal report survives both", () => {
  const b = new FakeJobsBroker();
  b.online = false;
  b.client.connected();
  equal(b.sent.length, 0);
  b.online = true;
  b.client.connected();
  b.startAccepted(execution("job-1"));
  b.client.report("FAILED", { reason: "signature does not verify" });
  const first = b.last().payload.clientToken;
  b.time += 4999;
  b.client.tick();
  equal(b.sent.length, 2);
  b.time += 1;
  b.client.tick();
  equal(b.sent.length, 3);
  assert(b.last().payload.clientToken !== first, "a new token");
  equal(b.last().payload.status, "FAILED");
  b.client.disconnected();
  b.online = false;
  b.time += 10_000;
  b.client.tick();
  equal(b.sent.length, 3, "nothing while offline");
  b.online = true;
  b.client.connected();
  equal(b.last().payload.status, "FAILED");
  b.updateReply(true);
  equal(b.last().topic, "$aws/things/press-7/jobs/start-next");
});

test("ota jobs: throttled reports are retried; a cancelled job is given up; start-next rejected is retried later", () => {
  const b = new FakeJobsBroker();
  b.client.connected();
  b.deliver("start-next/rejected", { clientToken: b.last().payload.clientToken, code: "InternalError", message: "x" });
  equal(b.client.state, "idle");
  b.time += 5000;
  b.client.tick();
  b.startAccepted(execution("job-1"));
  b.client.report("IN_PROGRESS", { step: "download" });
  b.updateReply(false, { code: "RequestThrottled", message: "slow down" });
  const count = b.sent.length;
  b.time += 5000;
  b.client.tick();
  equal(b.sent.length, count + 1);
  equal(b.last().payload.statusDetails.step, "download");
  b.updateReply(false, { code: "TerminalStateReached", message: "cancelled" });
  deepEqual(b.gone, ["job-1: TerminalStateReached: cancelled"]);
  equal(b.last().topic, "$aws/things/press-7/jobs/start-next");
});

test("ota jobs: an unanswered start-next is asked again less and less often, logged once, and at the first answer as before", () => {
  const b = new FakeJobsBroker();
  b.client.connected();
  const askedAt: number[] = [b.time];
  for (let s = 0; s < 400; s++) {
    b.time += 1000;
    const before = b.sent.length;
    b.client.tick();
    if (b.sent.length > before) askedAt.push(b.time);
  }
  // timeout 5 s: again after 5, 10, 20, 40, 80, 160 s, then every 160 s
  deepEqual(askedAt.slice(1).map((t, i) => (t - askedAt[i]) / 1000), [5, 10, 20, 40, 80, 160]);
  equal(b.logs.filter((l) => /no answer to start-next/.test(l)).length, 1);
  b.startAccepted();
  b.deliver("notify-next", { timestamp: 2, execution: { jobId: "job-9" } });
  const at = b.time;
  b.time += 5000;
  b.client.tick();
  equal(b.last().topic, "$aws/things/press-7/jobs/start-next");
  equal(b.sent.length, 9, "asked again after the plain timeout once answers came");
  assert(b.time - at === 5000);
});

test("ota jobs: notify-next while a start-next waits unanswered asks again at once, with a fresh token", () => {
  const b = new FakeJobsBroker();
  b.client.connected();
  for (let s = 0; s < 100; s++) {
    b.time += 1000;
    b.client.tick();
  }
  const sent = b.sent.length;
  const stale = b.last().payload.clientToken;
  b.deliver("notify-next", { timestamp: 3, execution: { jobId: "job-7" } });
  equal(b.sent.length, sent + 1, "asked at once");
  assert(b.last().payload.clientToken !== stale, "a fresh token");
  b.startAccepted(execution("job-7"));
  equal(b.jobs.map((j) => j.jobId).join(), "job-7");
});
