// The local stand-in for AWS IoT Jobs and MQTT-based file delivery (cloud/local/jobs-service.ts),
// driven by the firmware's own device side: a real JobsClient (src/ota/jobs-client.ts) and
// streamRequest (src/ota/download.ts) over an mqtt.js connection with a device certificate, on the
// embedded broker (Aedes, mutual TLS) and on Mosquitto with the local mirror's configuration (mutual
// TLS, the per-device ACL, the jobs service's own entry). A job started, reported in progress and SUCCEEDED; a second
// job after it; a cancelled job; a version mismatch and an update of a finished job refused with
// AWS's codes; stream blocks byte-exact, and GetStream errors.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { JOBS_SERVICE_IDENTITY, LocalJobs, jobsServiceTls } from "../cloud/local/jobs-service.ts";
import { startMosquitto, type MosquittoProcess } from "../cloud/local/mosquitto-process.ts";
import { ruleDefinitions } from "../cloud/rules.ts";
import { DEFAULT_LAYOUT } from "../cloud/topics.ts";
import { freePort } from "./support/mosquitto.ts";
import { JobExecutions } from "../cloud/local/job-executions.ts";
import { getStream } from "../cloud/local/stream-delivery.ts";
import { JobsClient, type JobExecution } from "../src/ota/jobs-client.ts";
import { DownloadTracker, streamDataTopic, streamRequest } from "../src/ota/download.ts";
import { parseUpdateDocument } from "../src/ota/job-document.ts";
import { roguePki, type Pki } from "./support/pki.ts";
import { until } from "./support/until.ts";

const THING = "press-7";
const SERVICE = JOBS_SERVICE_IDENTITY;
const DOCUMENT = {
  operation: "iiot.firmware-update",
  version: "0.4.0",
  image: { stream: { id: "fw-0-4-0", fileId: 0 }, size: 10_000, sha256: "ab".repeat(32), signature: Buffer.alloc(70, 1).toString("base64"), blockSize: 4096 },
};

interface Device {
  client: MqttClient;
  jobs: JobsClient;
  started: JobExecution[];
  gone: { jobId: string; reason: string }[];
  /** Every message on the thing's topics, parsed. */
  received: { topic: string; body: Record<string, unknown> }[];
  /** Takes on each job (undefined) or rejects it (a reason). */
  decide: (job: JobExecution) => string | undefined;
}

/** A device: JobsClient wired to mqtt.js as src/ota/update-service.ts wires it to the node's session. */
async function connectDevice(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }, thing: string, extraSubscriptions: string[] = []): Promise<Device> {
  const client = await mqtt.connectAsync(url, { ...tls, clientId: thing, servername: "localhost", rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 5000 });
  const device: Device = {
    client,
    started: [],
    gone: [],
    received: [],
    decide: () => undefined,
    jobs: undefined as unknown as JobsClient,
  };
  device.jobs = new JobsClient({
    thing,
    publish: (topic, payload) => {
      if (!client.connected) return false;
      client.publish(topic, payload, { qos: 1 });
      return true;
    },
    now: Date.now,
    events: {
      onJob: (job) => {
        device.started.push(job);
        return device.decide(job);
      },
      onJobGone: (jobId, reason) => void device.gone.push({ jobId, reason }),
    },
  });
  client.on("message", (topic, payload) => {
    const text = payload.toString("utf8");
    device.received.push({ topic, body: JSON.parse(text) as Record<string, unknown> });
    device.jobs.receive(topic, text);
  });
  await client.subscribeAsync([...device.jobs.subscriptions, ...extraSubscriptions], { qos: 1 });
  device.jobs.connected();
  return device;
}

/** Every block of a stream file through streamRequest, one request per block as the firmware asks. */
async function downloadStream(device: Device, thing: string, streamId: string, fileId: number, size: number, blockSize: number): Promise<Uint8Array> {
  const tracker = new DownloadTracker(size, blockSize);
  const image = new Uint8Array(size);
  const dataTopic = streamDataTopic(thing, streamId);
  for (let request = tracker.next(); request; request = tracker.next()) {
    const token = `blk-${request.index}`;
    const { topic, payload } = streamRequest(thing, streamId, fileId, request, blockSize, token);
    device.client.publish(topic, payload, { qos: 1 });
    let block: Record<string, unknown> | undefined;
    await until(() => (block = device.received.find((m) => m.topic === dataTopic && m.body.c === token)?.body) !== undefined, `block ${request.index}`, 5000);
    expect(block).toMatchObject({ f: fileId, i: request.index, l: request.length });
    const bytes = Buffer.from(block!.p as string, "base64");
    expect(bytes.length).toBe(request.length);
    image.set(bytes, request.offset);
    tracker.completed(request.index);
  }
  return image;
}

describe("on the embedded broker", () => {
  let pki: Pki;
  let broker: EmbeddedBroker;
  let service: LocalJobs;
  const devices: Device[] = [];
  const url = () => `mqtts://127.0.0.1:${broker.port}`;

  beforeAll(async () => {
    pki = roguePki(THING, "press-8", SERVICE);
    broker = await startEmbeddedBroker({ certsDir: pki.dir });
    service = await LocalJobs.start({ url: url(), ...pki.tlsOptions(SERVICE), servername: "localhost", clientId: SERVICE });
  });
  afterEach(async () => {
    for (const d of devices.splice(0)) await d.client.endAsync(true);
  });
  afterAll(async () => {
    await service?.stop();
    await broker?.close();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  test("a job is started, reported in progress and SUCCEEDED; the next one follows; history has every accepted change", async () => {
    const device = await connectDevice(url(), pki.tlsOptions(THING), THING);
    devices.push(device);
    // start-next before any job: accepted without an execution
    await until(() => device.received.some((m) => m.topic.endsWith("/start-next/accepted")), "the first start-next answer", 5000);
    expect(device.received[0].body).not.toHaveProperty("execution");
    expect(device.jobs.state).toBe("idle");

    service.createJob(THING, "update-1", DOCUMENT);
    service.createJob(THING, "update-2", { ...DOCUMENT, version: "0.4.1" });
    await until(() => device.started.length === 1, "the device to start update-1", 5000);
    const job = device.started[0];
    expect(job).toMatchObject({ jobId: "update-1", status: "IN_PROGRESS", versionNumber: 2, executionNumber: 1 });
    expect(parseUpdateDocument(job.document, { maxImageBytes: 1 << 20 })).toMatchObject({ ok: true, document: { version: "0.4.0", source: { kind: "stream", streamId: "fw-0-4-0", fileId: 0 } } });
    const notify = device.received.find((m) => m.topic === `$aws/things/${THING}/jobs/notify-next`)!.body;
    expect(notify).toMatchObject({ execution: { jobId: "update-1", status: "QUEUED", versionNumber: 1, jobDocument: DOCUMENT } });
    expect(Number.isInteger(notify.timestamp) && (notify.timestamp as number) < 1e10).toBe(true); // seconds
    expect(service.execution(THING, "update-1")).toStrictEqual({ status: "IN_PROGRESS", statusDetails: {}, versionNumber: 2 });

    device.jobs.report("IN_PROGRESS", { phase: "downloading", percent: 50 });
    await until(() => service.execution(THING, "update-1")?.statusDetails.percent === "50", "the progress report", 5000);
    device.jobs.report("SUCCEEDED", { phase: "done" });
    expect(await service.waitFor(THING, "update-1", ["SUCCEEDED", "FAILED"], 5000)).toStrictEqual({ status: "SUCCEEDED", statusDetails: { phase: "done" } });
    // The terminal report accepted, the client asks for the next job at once.
    await until(() => device.started.length === 2, "the device to start update-2", 5000);
    expect(device.started[1]).toMatchObject({ jobId: "update-2", status: "IN_PROGRESS" });
    expect(service.history.map((h) => [h.jobId, h.status, h.statusDetails])).toStrictEqual([
      ["update-1", "IN_PROGRESS", {}],
      ["update-1", "IN_PROGRESS", { phase: "downloading", percent: "50" }],
      ["update-1", "SUCCEEDED", { phase: "done" }],
      ["update-2", "IN_PROGRESS", {}],
    ]);
    expect(service.execution(THING, "update-1")!.versionNumber).toBe(4);

    device.decide = () => "unknown job type";
    device.jobs.report("REJECTED", { reason: "test" });
    await service.waitFor(THING, "update-2", ["REJECTED"], 5000);
  });

  test("a cancelled job: notify-next without it, the device drops it, its late update is InvalidStateTransition", async () => {
    const device = await connectDevice(url(), pki.tlsOptions("press-8"), "press-8");
    devices.push(device);
    service.createJob("press-8", "update-c", DOCUMENT);
    await until(() => device.started.length === 1, "the device to start update-c", 5000);
    service.cancelJob("press-8", "update-c");
    await until(() => device.gone.length === 1, "the device to learn of the cancel", 5000);
    expect(device.gone[0].jobId).toBe("update-c");
    expect(service.execution("press-8", "update-c")!.status).toBe("CANCELED");
    await expect(service.waitFor("press-8", "update-c", ["CANCELED"], 10)).resolves.toMatchObject({ status: "CANCELED" });

    device.client.publish("$aws/things/press-8/jobs/update-c/update", JSON.stringify({ status: "SUCCEEDED", clientToken: "late" }), { qos: 1 });
    await until(() => device.received.some((m) => m.topic.endsWith("update-c/update/rejected")), "the rejection", 5000);
    expect(device.received.find((m) => m.topic.endsWith("update-c/update/rejected"))!.body).toMatchObject({
      code: "InvalidStateTransition",
      clientToken: "late",
      executionState: { status: "CANCELED", versionNumber: 2 },
    });
  });

  test("an update with a stale expectedVersion is rejected with VersionMismatch and the current state; an unknown job with ResourceNotFound; describe and get-pending answered", async () => {
    // The jobs client does not use describe and get-pending: their answers need subscriptions of their own.
    const device = await connectDevice(url(), pki.tlsOptions(THING), THING, [`$aws/things/${THING}/jobs/get/+`, `$aws/things/${THING}/jobs/+/get/+`]);
    devices.push(device);
    const before = device.started.length;
    service.createJob(THING, "update-v", DOCUMENT);
    await until(() => device.started.length > before, "the device to start update-v", 5000);
    const { versionNumber } = service.execution(THING, "update-v")!;
    const send = (jobId: string, body: Record<string, unknown>) => device.client.publish(`$aws/things/${THING}/jobs/${jobId}/update`, JSON.stringify(body), { qos: 1 });
    send("update-v", { status: "IN_PROGRESS", expectedVersion: versionNumber - 1, clientToken: "stale" });
    send("update-v", { status: "IN_PROGRESS", expectedVersion: versionNumber, statusDetails: { step: "ok" }, includeJobExecutionState: true, clientToken: "fresh" });
    send("no-such-job", { status: "IN_PROGRESS", clientToken: "missing" });
    device.client.publish(`$aws/things/${THING}/jobs/$next/get`, JSON.stringify({ clientToken: "describe" }), { qos: 1 });
    device.client.publish(`$aws/things/${THING}/jobs/get`, JSON.stringify({ clientToken: "pending" }), { qos: 1 });
    await until(() => device.received.some((m) => m.body.clientToken === "pending"), "the five answers", 5000);
    const answer = (token: string) => device.received.find((m) => m.body.clientToken === token)!;
    expect(answer("stale").topic).toBe(`$aws/things/${THING}/jobs/update-v/update/rejected`);
    expect(answer("stale").body).toMatchObject({ code: "VersionMismatch", executionState: { status: "IN_PROGRESS", versionNumber } });
    expect(answer("fresh").topic).toBe(`$aws/things/${THING}/jobs/update-v/update/accepted`);
    expect(answer("fresh").body).toMatchObject({ executionState: { status: "IN_PROGRESS", statusDetails: { step: "ok" }, versionNumber: versionNumber + 1 } });
    expect(answer("missing").topic).toBe(`$aws/things/${THING}/jobs/no-such-job/update/rejected`);
    expect(answer("missing").body).toMatchObject({ code: "ResourceNotFound" });
    expect(answer("describe").topic).toBe(`$aws/things/${THING}/jobs/$next/get/accepted`);
    expect(answer("describe").body).toMatchObject({ execution: { jobId: "update-v", versionNumber: versionNumber + 1, jobDocument: DOCUMENT } });
    expect(answer("pending").topic).toBe(`$aws/things/${THING}/jobs/get/accepted`);
    expect(answer("pending").body).toMatchObject({ inProgressJobs: [{ jobId: "update-v" }], queuedJobs: [] });
    device.jobs.report("FAILED", { reason: "test over" });
    await service.waitFor(THING, "update-v", ["FAILED"], 5000);
  });

  test("stream blocks come back byte-exact through streamRequest; bad requests get AWS's error codes on rejected/json", async () => {
    const image = new Uint8Array(randomBytes(10_000));
    service.addStream("fw-0-4-0", new Map([[0, image]]));
    const base = `$aws/things/${THING}/streams/fw-0-4-0`;
    const device = await connectDevice(url(), pki.tlsOptions(THING), THING, [`${base}/data/json`, `${base}/rejected/json`]);
    devices.push(device);
    expect(Buffer.from(await downloadStream(device, THING, "fw-0-4-0", 0, image.length, 4096)).equals(Buffer.from(image))).toBe(true);

    const ask = (body: Record<string, unknown>) => device.client.publish(`${base}/get/json`, JSON.stringify(body), { qos: 1 });
    ask({ c: "small", f: 0, l: 128, o: 0, n: 1 });
    ask({ c: "file", f: 3, l: 4096, o: 0, n: 1 });
    ask({ c: "past", f: 0, l: 4096, o: 3, n: 1 });
    ask({ c: "version", s: 9, f: 0, l: 4096, o: 0, n: 1 });
    await until(() => device.received.filter((m) => m.topic === `${base}/rejected/json`).length === 4, "four rejections", 5000);
    const rejected = device.received.filter((m) => m.topic === `${base}/rejected/json`).map((m) => [m.body.c, m.body.o]);
    expect(rejected).toStrictEqual([
      ["small", "BlockSizeOutOfBounds"],
      ["file", "ResourceNotFound"],
      ["past", "ResourceNotFound"],
      ["version", "VersionMismatch"],
    ]);
  });
});

test("stop() rejects a waitFor still pending, at once", { timeout: 10_000 }, async () => {
  const pki = roguePki("press-9", SERVICE);
  const broker = await startEmbeddedBroker({ certsDir: pki.dir });
  try {
    const service = await LocalJobs.start({ url: `mqtts://127.0.0.1:${broker.port}`, ...pki.tlsOptions(SERVICE), servername: "localhost" });
    service.createJob("press-9", "never", DOCUMENT);
    const rejected = expect(service.waitFor("press-9", "never", ["SUCCEEDED"], 60_000)).rejects.toThrow(/stopped before never on press-9 reached SUCCEEDED/);
    await service.stop();
    await rejected;
  } finally {
    await broker.close();
    rmSync(pki.dir, { recursive: true, force: true });
  }
});

describe("on Mosquitto with TLS and the per-device ACL", () => {
  let pki: Pki;
  let broker: MosquittoProcess;
  let service: LocalJobs;
  const devices: Device[] = [];
  const url = () => `mqtts://127.0.0.1:${broker.port}`;

  beforeAll(async () => {
    pki = roguePki(THING, "press-8");
    broker = await startMosquitto({
      port: await freePort(),
      certsDir: pki.dir,
      dataDir: mkdtempSync(join(tmpdir(), "iiot-jobs-mosquitto-")),
      layout: DEFAULT_LAYOUT,
      rules: ruleDefinitions(),
      rulesRunner: "iiot-rules",
    });
    // The identity made on first use, as npm run ota:job makes it.
    service = await LocalJobs.start({ url: url(), ...jobsServiceTls(pki.dir), servername: "localhost" });
  });
  afterEach(async () => {
    for (const d of devices.splice(0)) await d.client.endAsync(true);
  });
  afterAll(async () => {
    await service?.stop();
    await broker?.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  test("an update job from start to SUCCEEDED with its image streamed, as the device's own identity", async () => {
    const image = new Uint8Array(randomBytes(9000));
    service.addStream("fw-0-4-0", new Map([[0, image]]));
    const base = `$aws/things/${THING}/streams/fw-0-4-0`;
    const device = await connectDevice(url(), pki.tlsOptions(THING), THING, [`${base}/data/json`, `${base}/rejected/json`]);
    devices.push(device);
    service.createJob(THING, "update-m", { ...DOCUMENT, image: { ...DOCUMENT.image, size: image.length } });
    await until(() => device.started.length === 1, "the device to start update-m", 5000);
    device.jobs.report("IN_PROGRESS", { phase: "downloading" });
    expect(Buffer.from(await downloadStream(device, THING, "fw-0-4-0", 0, image.length, 4096)).equals(Buffer.from(image))).toBe(true);
    device.jobs.report("SUCCEEDED", { phase: "done" });
    expect(await service.waitFor(THING, "update-m", ["SUCCEEDED", "FAILED"], 5000)).toStrictEqual({ status: "SUCCEEDED", statusDetails: { phase: "done" } });
    expect(service.history.filter((h) => h.jobId === "update-m").map((h) => h.status)).toStrictEqual(["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]);
  });

  test("another device neither reads a thing's job and stream answers nor reaches the service as that thing", async () => {
    const image = new Uint8Array(randomBytes(5000));
    service.addStream("fw-other", new Map([[0, image]]));
    const other = await connectDevice(url(), pki.tlsOptions("press-8"), "press-8", [`$aws/things/${THING}/jobs/#`, `$aws/things/${THING}/streams/+/data/json`, "$aws/things/+/streams/#"]);
    devices.push(other);
    const device = await connectDevice(url(), pki.tlsOptions(THING), THING, [`$aws/things/${THING}/streams/fw-other/data/json`]);
    devices.push(device);
    service.createJob(THING, "update-x", DOCUMENT);
    await until(() => device.started.length === 1, "the device to start update-x", 5000);
    // Forged by press-8 as press-7: a terminal report and a block request. Mosquitto acknowledges and drops them.
    await other.client.publishAsync(`$aws/things/${THING}/jobs/update-x/update`, JSON.stringify({ status: "SUCCEEDED", clientToken: "forged" }), { qos: 1 });
    await other.client.publishAsync(`$aws/things/${THING}/streams/fw-other/get/json`, JSON.stringify({ c: "forged", f: 0, l: 4096, o: 0, n: 1 }), { qos: 1 });
    // Mosquitto is one loop: press-7's messages, sent after those PUBACKs, reach the service after anything forged would have.
    expect(Buffer.from(await downloadStream(device, THING, "fw-other", 0, image.length, 4096)).equals(Buffer.from(image))).toBe(true);
    device.jobs.report("FAILED", { reason: "test" });
    await service.waitFor(THING, "update-x", ["FAILED", "SUCCEEDED"], 5000);
    expect(service.execution(THING, "update-x")!.status).toBe("FAILED");
    expect(device.received.some((m) => m.body.c === "forged")).toBe(false);
    // A round trip on press-8's own connection comes after anything the broker queued for it.
    await other.client.subscribeAsync("settle/round-trip", { qos: 1 });
    expect(other.received.filter((m) => m.topic.startsWith(`$aws/things/${THING}/`))).toStrictEqual([]);
    // Its own start-next was answered, so the service does hear press-8 on its own topics.
    expect(other.received.some((m) => m.topic === "$aws/things/press-8/jobs/start-next/accepted")).toBe(true);
  });
});

describe("the rules alone", () => {
  test("start-next takes the oldest IN_PROGRESS first, else the oldest QUEUED; notify-next only when the next one changes", () => {
    let now = 1_700_000_000_000;
    const jobs = new JobExecutions(() => now);
    expect(jobs.create("t", "a", { n: 1 }).map((o) => o.suffix)).toStrictEqual(["notify-next"]);
    expect(jobs.create("t", "b", { n: 2 })).toStrictEqual([]); // a is still next
    now += 1000;
    // The device moves b to IN_PROGRESS by an update: b is now next (IN_PROGRESS before QUEUED).
    const moved = jobs.update("t", "b", JSON.stringify({ status: "IN_PROGRESS" }));
    expect(moved.out.map((o) => o.suffix)).toStrictEqual(["b/update/accepted", "notify-next"]);
    expect(moved.out[1].body).toMatchObject({ execution: { jobId: "b", status: "IN_PROGRESS", startedAt: 1_700_000_001 } });
    const started = jobs.startNext("t", JSON.stringify({ clientToken: "x" }));
    expect(started.accepted).toBeUndefined(); // already IN_PROGRESS: unchanged
    expect(started.out).toStrictEqual([{ suffix: "start-next/accepted", body: { clientToken: "x", timestamp: 1_700_000_001, execution: expect.objectContaining({ jobId: "b", versionNumber: 2 }) } }]);
    const done = jobs.update("t", "b", JSON.stringify({ status: "SUCCEEDED" }));
    expect(done.out[1]).toMatchObject({ suffix: "notify-next", body: { execution: { jobId: "a", status: "QUEUED" } } });
    expect(jobs.update("t", "a", JSON.stringify({ status: "REJECTED", statusDetails: { reason: "no" } })).out[1]).toStrictEqual({ suffix: "notify-next", body: { timestamp: 1_700_000_001 } });
    expect(jobs.startNext("t", "{}").out).toStrictEqual([{ suffix: "start-next/accepted", body: { timestamp: 1_700_000_001 } }]);
  });

  test("DescribeJobExecution ($next too) and GetPendingJobExecutions: the pending executions, oldest first; a finished one is TerminalStateReached", () => {
    let now = 1_700_000_000_000;
    const jobs = new JobExecutions(() => now);
    jobs.create("t", "a", { n: 1 });
    now += 2000;
    jobs.create("t", "b", { n: 2 });
    jobs.update("t", "b", JSON.stringify({ status: "IN_PROGRESS" }));
    expect(jobs.getPending("t", JSON.stringify({ clientToken: "p" }))).toStrictEqual([
      {
        suffix: "get/accepted",
        body: {
          inProgressJobs: [{ jobId: "b", queuedAt: 1_700_000_002, startedAt: 1_700_000_002, lastUpdatedAt: 1_700_000_002, versionNumber: 2, executionNumber: 1 }],
          queuedJobs: [{ jobId: "a", queuedAt: 1_700_000_000, lastUpdatedAt: 1_700_000_000, versionNumber: 1, executionNumber: 1 }],
          timestamp: 1_700_000_002,
          clientToken: "p",
        },
      },
    ]);
    expect(jobs.describe("t", "$next", "{}")[0]).toMatchObject({ suffix: "$next/get/accepted", body: { execution: { jobId: "b", status: "IN_PROGRESS", jobDocument: { n: 2 } } } });
    expect(jobs.describe("t", "a", JSON.stringify({ includeJobDocument: false }))[0].body.execution).not.toHaveProperty("jobDocument");
    jobs.update("t", "b", JSON.stringify({ status: "SUCCEEDED" }));
    expect(jobs.describe("t", "b", JSON.stringify({ clientToken: "d" }))[0]).toMatchObject({ suffix: "b/get/rejected", body: { code: "TerminalStateReached", clientToken: "d" } });
    expect(jobs.describe("t", "zz", "{}")[0]).toMatchObject({ suffix: "zz/get/rejected", body: { code: "ResourceNotFound" } });
    jobs.update("t", "a", JSON.stringify({ status: "REJECTED" }));
    expect(jobs.describe("t", "$next", JSON.stringify({ clientToken: "n" }))).toStrictEqual([{ suffix: "$next/get/accepted", body: { timestamp: 1_700_000_002, clientToken: "n" } }]);
    expect(jobs.getPending("t", "{}")[0].body).toMatchObject({ inProgressJobs: [], queuedJobs: [] });
  });

  test("requests AWS refuses: not JSON, a status the device may not set, bad statusDetails, a long client token", () => {
    const jobs = new JobExecutions(() => 0);
    jobs.create("t", "a", {});
    const code = (r: { out: { body: Record<string, unknown> }[] }) => r.out[0].body.code;
    expect(code(jobs.update("t", "a", "{"))).toBe("InvalidJson");
    expect(code(jobs.update("t", "a", JSON.stringify({ status: "CANCELED" })))).toBe("InvalidRequest");
    expect(code(jobs.update("t", "a", JSON.stringify({ status: "IN_PROGRESS", statusDetails: { "bad key": "x" } })))).toBe("InvalidRequest");
    expect(code(jobs.update("t", "a", JSON.stringify({ status: "IN_PROGRESS", statusDetails: { k: "" } })))).toBe("InvalidRequest");
    expect(code(jobs.update("t", "a", JSON.stringify({ status: "IN_PROGRESS", statusDetails: { k: 5 } })))).toBe("InvalidRequest");
    expect(code(jobs.startNext("t", JSON.stringify({ clientToken: "x".repeat(65) })))).toBe("InvalidRequest");
    expect(jobs.get("t", "a")).toMatchObject({ status: "QUEUED", versionNumber: 1 });
    expect(() => jobs.create("t", "a", {})).toThrow(/already exists/);
  });

  test("GetStream: blocks per request capped at 128 KB, the last block short, a bitmap picks blocks, defaults for o and n", () => {
    const file = new Uint8Array(300_000).map((_, i) => i % 251);
    const stream = { version: 1, files: new Map([[0, file]]) };
    const answer = (request: Record<string, unknown>) => getStream(stream, JSON.stringify(request));
    const data = (request: Record<string, unknown>) => {
      const a = answer(request);
      if (!("data" in a)) throw new Error(JSON.stringify(a));
      return a.data;
    };
    expect(data({ f: 0, l: 65_536 }).map((b) => b.i)).toStrictEqual([0, 1]); // n defaults to 131072 / l
    expect(data({ f: 0, l: 4096, o: 1, n: 100 }).length).toBe(32);
    const last = data({ f: 0, l: 131_072, o: 2, n: 1 })[0];
    expect(last).toMatchObject({ i: 2, l: 300_000 - 262_144 });
    expect(Buffer.from(last.p as string, "base64").equals(Buffer.from(file.subarray(262_144)))).toBe(true);
    expect(data({ c: "bits", f: 0, l: 256, o: 20, n: 32, b: "0x130080" }).map((b) => [b.c, b.i])).toStrictEqual([
      ["bits", 20],
      ["bits", 21],
      ["bits", 24],
      ["bits", 43],
    ]);
    expect(answer({ f: 0, l: 256, o: 98_305 })).toStrictEqual({ rejected: { o: "OffsetOutOfBounds", m: expect.any(String) } });
    expect(answer({ f: 0, l: 256, n: 98_305 })).toMatchObject({ rejected: { o: "BlockCountLimitExceeded" } });
    expect(answer({ f: 0, l: 262_144 })).toMatchObject({ rejected: { o: "BlockSizeOutOfBounds" } });
    expect(getStream(undefined, JSON.stringify({ c: "t", f: 0, l: 256 }))).toMatchObject({ rejected: { o: "ResourceNotFound", c: "t" } });
    expect(getStream(stream, "not json")).toMatchObject({ rejected: { o: "InvalidJson" } });
    expect(answer({ c: "x".repeat(65), f: 0, l: 256 })).toStrictEqual({ rejected: { o: "InvalidRequest", m: expect.any(String) } });
  });
});
