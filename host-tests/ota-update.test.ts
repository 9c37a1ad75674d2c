// Firmware updates end to end on the host target: the real firmware (src/main.ts) on the embedded
// broker, the local stand-in for AWS IoT Jobs and MQTT file delivery (cloud/local/jobs-service.ts),
// a signed simulated image in a stream. An update completes (the node restarts into the new image,
// which confirms itself and reports SUCCEEDED with the new version in its status); a corrupted image,
// a wrong signature and a failing self-test each leave the old image running and the job FAILED with
// a reason; and across all of it every reading the node stored reaches the broker.

import { test, expect, beforeAll, afterAll, onTestFinished } from "vitest";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { simBoard } from "../sim/board.ts";
import { buildSimImage } from "../sim/ota/dual-slot.ts";
import { LocalJobs } from "../cloud/local/jobs-service.ts";
import { FIRMWARE_VERSION } from "../src/version.ts";
import { devPki, SUBSCRIBER, type Pki } from "./support/pki.ts";
import { until } from "./support/until.ts";
import type { RunningNode } from "../src/app.ts";

const THING = "press-7";
const ROOT = `iiot-test/${THING}/`;
const NEW = "0.4.0";

let pki: Pki;
let broker: EmbeddedBroker;
let jobs: LocalJobs;
const updateKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
const lines: string[] = [];

beforeAll(async () => {
  traceSink.write = (text) => void lines.push(text);
  pki = devPki(THING, SUBSCRIBER);
  broker = await startEmbeddedBroker({ certsDir: pki.dir });
  jobs = await LocalJobs.start({ url: `mqtts://localhost:${broker.port}`, ...pki.tlsOptions(SUBSCRIBER), servername: "localhost", clientId: "iiot-jobs-test" });
}, 30_000);

afterAll(async () => {
  await jobs?.stop();
  await broker?.close();
  traceSink.write = (text) => void process.stdout.write(text);
});

/** The device's resources with the update key built in. */
function resources(): string {
  const dir = mkdtempSync(join(tmpdir(), "iiot-ota-res-"));
  for (const f of ["ca.der", "device.der", "device-key.der"]) copyFileSync(join(pki.resources(THING), f), join(dir, f));
  writeFileSync(join(dir, "ota-key.der"), updateKey.publicKey.export({ type: "spki", format: "der" }));
  return dir;
}

function signed(image: Uint8Array, key: KeyObject = updateKey.privateKey): string {
  // ECDSA P-256 over the image's SHA-256, DER: what cloud/ota/create-update.ts makes.
  return sign("sha256", image, key).toString("base64");
}

let jobCount = 0;
/** A job for image, served as stream fileId 0; what the document says can differ from what is served. */
function createJob(served: Uint8Array, document: { image: Uint8Array; signature: string; version?: string }): string {
  const jobId = `ota-test-${++jobCount}`;
  const streamId = `fw-${jobCount}`;
  jobs.addStream(streamId, new Map([[0, served]]));
  jobs.createJob(THING, jobId, {
    operation: "iiot.firmware-update",
    version: document.version ?? NEW,
    image: { stream: { id: streamId, fileId: 0 }, size: document.image.length, sha256: createHash("sha256").update(document.image).digest("hex"), signature: document.signature },
  });
  return jobId;
}

interface Run {
  node(): RunningNode;
  boots: number;
  statuses: Record<string, unknown>[];
  /** Every seq the broker received in telemetry batches or alarms. */
  seqs: Set<number>;
  stop(): Promise<void>;
}

async function bootNode(config: Record<string, unknown> = {}): Promise<Run> {
  const statuses: Record<string, unknown>[] = [];
  const seqs = new Set<number>();
  const onPublish = (packet: { topic: string; payload: Buffer | string }, client: unknown) => {
    if (!client) return;
    const text = packet.payload.toString();
    if (packet.topic === `${ROOT}status`) statuses.push(JSON.parse(text));
    else if (packet.topic === `${ROOT}telemetry`) for (const r of JSON.parse(text).readings as { seq: number }[]) seqs.add(r.seq);
    else if (packet.topic === `${ROOT}alarm`) seqs.add(JSON.parse(text).seq);
  };
  broker.aedes.on("publish", onPublish);
  let current: RunningNode;
  const run: Run = {
    node: () => current,
    boots: 1,
    statuses,
    seqs,
    async stop() {
      broker.aedes.removeListener("publish", onPublish);
      await current.stop(5000);
    },
  };
  current = await bootFirmware({
    config: { thing: THING, topic_root: ROOT, broker_host: "localhost", broker_port: broker.port, sample_ms: 250, flush_ms: 1000, startup_jitter_ms: 0, ota_selftest_s: 10, ...config },
    resources: resources(),
    state: mkdtempSync(join(tmpdir(), "iiot-ota-")),
    onRestart: (next) => {
      current = next;
      run.boots++;
    },
  });
  onTestFinished(() => run.stop());
  return run;
}

/** Sequence numbers below the highest the broker got that it never got. */
function missingSeqs(seqs: Set<number>): number[] {
  const missing = [];
  for (let s = 0, max = Math.max(...seqs); s <= max; s++) if (!seqs.has(s)) missing.push(s);
  return missing;
}

/** Waits until every reading stored so far has reached the broker, then checks none is missing. */
async function everyReadingArrived(run: Run): Promise<void> {
  await until(() => run.node().stats.pending === 0 && run.node().online === true, "the log drained", 20_000);
  expect(missingSeqs(run.seqs), "seqs the broker never got").toStrictEqual([]);
}

const onlineVersions = (run: Run) => run.statuses.filter((s) => s.state === "online").map((s) => s.firmware);

test("ota: an update streams the signed image, restarts into it, the new image confirms itself: SUCCEEDED, 0.4.0 in the status, no reading lost", async () => {
  const run = await bootNode();
  await until(() => run.node().online === true, "online", 15_000);
  const image = buildSimImage(NEW, 60_000, 11);
  const jobId = createJob(image, { image, signature: signed(image) });
  const done = await jobs.waitFor(THING, jobId, ["SUCCEEDED", "FAILED", "REJECTED"], 60_000);
  expect(done.status, `${JSON.stringify(done.statusDetails)}\n${lines.slice(-40).join("")}`).toBe("SUCCEEDED");
  expect(done.statusDetails.version).toBe(NEW);
  expect(run.boots).toBe(2);
  const steps = jobs.history.filter((h) => h.jobId === jobId).map((h) => h.statusDetails.step ?? h.status);
  expect(steps).toEqual(expect.arrayContaining(["download", "reboot", "self-test", "SUCCEEDED"]));
  await until(() => onlineVersions(run).includes(NEW), "the new image's online status", 10_000);
  expect(onlineVersions(run)).toStrictEqual([FIRMWARE_VERSION, NEW]);
  expect(run.statuses.find((s) => s.state === "online" && s.firmware === NEW)).toMatchObject({ reset: "software", reset_detail: expect.stringMatching(/ota update/) });
  expect(lines.join("")).toMatch(/ota: 0\.4\.0 passed its self-test and is confirmed/);
  // The restart leaves the chips powered (as a software reset does) and every sensor starts again at once.
  expect(lines.join("")).not.toMatch(/cannot start/);
  await everyReadingArrived(run);
}, 90_000);

test("ota: a corrupted image and a wrong signature each fail the job with the reason; the old image keeps running", async () => {
  const run = await bootNode();
  await until(() => run.node().online === true, "online", 15_000);
  const image = buildSimImage(NEW, 30_000, 12);
  const corrupted = image.slice();
  corrupted[20_000] ^= 1;
  const first = createJob(corrupted, { image, signature: signed(image) });
  const bad = await jobs.waitFor(THING, first, ["SUCCEEDED", "FAILED", "REJECTED"], 60_000);
  expect(bad.status).toBe("FAILED");
  expect(bad.statusDetails.reason).toMatch(/sha256 mismatch/);
  const second = createJob(image, { image, signature: signed(image, otherKey.privateKey) });
  const unsigned = await jobs.waitFor(THING, second, ["SUCCEEDED", "FAILED", "REJECTED"], 60_000);
  expect(unsigned.status).toBe("FAILED");
  expect(unsigned.statusDetails.reason).toMatch(/signature does not verify/);
  expect(run.boots).toBe(1);
  expect(unsigned.statusDetails.version).toBe(FIRMWARE_VERSION);
  await everyReadingArrived(run);
}, 90_000);

test("ota: a new image whose sensors do not start fails its self-test, the previous image comes back and the job is FAILED", async () => {
  const run = await bootNode();
  await until(() => run.node().online === true, "online", 15_000);
  const image = buildSimImage(NEW, 30_000, 13);
  const jobId = createJob(image, { image, signature: signed(image) });
  // Every chip stops answering once the image is verified: the new image's sensors cannot start.
  await until(() => jobs.history.some((h) => h.jobId === jobId && h.statusDetails.step === "reboot"), "the image verified", 60_000);
  simBoard().faultEveryChip(true);
  onTestFinished(() => simBoard().faultEveryChip(false));
  await until(() => run.boots === 2, "the restart into the new image", 20_000);
  // Back to health once the new image has given up, so the old one starts with its sensors.
  await until(() => run.boots === 3, "the rollback's restart", 30_000);
  simBoard().faultEveryChip(false);
  const done = await jobs.waitFor(THING, jobId, ["SUCCEEDED", "FAILED", "REJECTED"], 30_000);
  expect(done.status).toBe("FAILED");
  expect(done.statusDetails.reason).toMatch(/self-test failed: sensors not ready/);
  await until(() => onlineVersions(run).length >= 2 && onlineVersions(run).at(-1) === FIRMWARE_VERSION, "the old image online again", 15_000);
  expect(lines.join("")).toMatch(/the bootloader went back to slot 0 \(0\.3\.0\)/);
  await everyReadingArrived(run);
}, 120_000);

test("ota: a power cut in the middle of the download (kill -9) resumes at the last persisted block after the restart, completes, and loses no reading", async () => {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const { manifestConfig } = await import("../host/firmware.ts");
  const root = fileURLToPath(new URL("../", import.meta.url));
  const topicRoot = String(manifestConfig().topic_root);
  const state = mkdtempSync(join(tmpdir(), "iiot-ota-cut-"));
  const identity = resources();
  const seqs = new Set<number>();
  const streamRequests: { o: number; n: number }[] = [];
  const statuses: Record<string, unknown>[] = [];
  const onPublish = (packet: { topic: string; payload: Buffer | string }, client: unknown) => {
    if (!client) return;
    const text = packet.payload.toString();
    if (packet.topic === `${topicRoot}telemetry`) for (const r of JSON.parse(text).readings as { seq: number }[]) seqs.add(r.seq);
    else if (packet.topic === `${topicRoot}alarm`) seqs.add(JSON.parse(text).seq);
    else if (packet.topic === `${topicRoot}status`) statuses.push(JSON.parse(text));
    else if (/^\$aws\/things\/press-7\/streams\/[^/]+\/get\/json$/.test(packet.topic)) streamRequests.push(JSON.parse(text));
  };
  broker.aedes.on("publish", onPublish);
  onTestFinished(() => void broker.aedes.removeListener("publish", onPublish));
  const output: string[] = [];
  const start = () => {
    const child = spawn(process.execPath, [
      "--import", "tsx", "--import", "./host/register.mjs", "host/run.ts",
      "--broker", `mqtts://localhost:${broker.port}`, "--device-only", "--identity", identity, "--state", state,
    ], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => output.push(String(d)));
    child.stderr!.on("data", (d) => output.push(String(d)));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    onTestFinished(() => void child.kill("SIGKILL"));
    return { child, exited };
  };
  const first = start();
  await until(() => statuses.some((s) => s.state === "online"), `the node online\n${output.join("")}`, 30_000);
  // 50 blocks of 4 KB: progress is persisted every 8 blocks.
  const image = buildSimImage(NEW, 200_000, 14);
  const jobId = createJob(image, { image, signature: signed(image) });
  await until(() => streamRequests.length >= 20, "20 blocks asked for", 30_000);
  first.child.kill("SIGKILL");
  await first.exited;
  const before = streamRequests.length;
  const second = start();
  const done = await jobs.waitFor(THING, jobId, ["SUCCEEDED", "FAILED", "REJECTED"], 90_000);
  expect(done.status, output.join("").slice(-3000)).toBe("SUCCEEDED");
  const resumedAt = streamRequests[before].o;
  expect(resumedAt, "the first block asked for after the cut").toBeGreaterThan(0);
  expect(resumedAt % (8 * 4), "a persisted block (8 blocks of four 1 KB stream blocks)").toBe(0);
  expect(resumedAt).toBeLessThanOrEqual(streamRequests[before - 1].o);
  expect(output.join("")).toMatch(/resuming at block \d+ of 49/);
  expect(output.join("")).toMatch(/host: the firmware restarted/);
  await until(() => statuses.some((s) => s.state === "online" && s.firmware === NEW), "the new image online", 15_000);
  second.child.kill("SIGTERM");
  expect(await second.exited, output.join("").slice(-2000)).toBe(0);
  expect(missingSeqs(seqs), "seqs the broker never got").toStrictEqual([]);
  expect(output.join("")).toMatch(/summary published=\d+ acknowledged=\d+ lost=0/);
}, 150_000);
