// npm run ota:job (cloud/ota/create-update.ts) as a child process: the job document it writes is
// what the firmware's own parser accepts, its signature verifies with the public key certs/generate.sh
// writes for the firmware (src/ota/p256.ts, and openssl) and not with another key; the AWS commands
// it prints; and --local, where it serves the stream and the job on the local mirror's Mosquitto
// (TLS, ACL) to a device (the firmware's JobsClient and streamRequest over mqtt.js) that downloads
// the image, checks it against the document and reports SUCCEEDED.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startMosquitto, type MosquittoProcess } from "../cloud/local/mosquitto-process.ts";
import { ruleDefinitions } from "../cloud/rules.ts";
import { DEFAULT_LAYOUT } from "../cloud/topics.ts";
import { parseUpdateDocument } from "../src/ota/job-document.ts";
import { JobsClient, type JobExecution } from "../src/ota/jobs-client.ts";
import { DownloadTracker, streamDataTopic, streamRequest } from "../src/ota/download.ts";
import { parsePublicKey, verifyP256 } from "../src/ota/p256.ts";
import { sha256, toHex } from "../src/ota/sha256.ts";
import { freePort } from "./support/mosquitto.ts";
import { roguePki, type Pki } from "./support/pki.ts";
import { until } from "./support/until.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const THING = "press-7";
let pki: Pki;
let dir: string;
let imagePath: string;
let image: Buffer;

beforeAll(() => {
  pki = roguePki(THING);
  dir = mkdtempSync(join(tmpdir(), "iiot-ota-job-"));
  image = Buffer.from(Array.from({ length: 23_456 }, (_, i) => (i * 7919) % 256));
  imagePath = join(dir, "xs_esp32.bin");
  writeFileSync(imagePath, image);
});
afterAll(() => {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const script = (args: string[]) => ["--import", "tsx", join(root, "cloud/ota/create-update.ts"), ...args];
const LIMITS = { maxImageBytes: 0x170000 };

test("the job document passes the firmware's parser; its signature verifies with certs/out/ota/ota-key.der and fails with another key; the AWS commands", { timeout: 60_000 }, () => {
  const out = join(dir, "doc.json");
  const run = spawnSync(
    process.execPath,
    script(["--image", imagePath, "--version", "0.5.0", "--key", join(pki.dir, "ota/signing-key.pem"), "--thing", THING, "--out", out, "--job-id", "fw-0-5-0-test",
      "--bucket", "iiot-firmware-bucket", "--role-arn", "arn:aws:iam::123456789012:role/image", "--template-arn", "arn:aws:iot:eu-west-1:123456789012:jobtemplate/iiot-firmware-update"]),
    { cwd: root, encoding: "utf8", timeout: 50_000 },
  );
  expect(run.status, run.stderr).toBe(0);
  const document: unknown = JSON.parse(readFileSync(out, "utf8"));
  const parsed = parseUpdateDocument(document, LIMITS);
  if (!parsed.ok) throw new Error(parsed.reason);
  expect(parsed.document).toMatchObject({ version: "0.5.0", source: { kind: "stream", streamId: "fw-0-5-0", fileId: 0 }, size: image.length, blockSize: 4096, allowDowngrade: false });
  expect(toHex(parsed.document.sha256)).toBe(createHash("sha256").update(image).digest("hex"));

  const key = parsePublicKey(new Uint8Array(readFileSync(join(pki.dir, "ota/ota-key.der"))));
  expect(verifyP256(key, sha256(image), parsed.document.signature)).toBe(true);
  const tampered = Buffer.from(image);
  tampered[100] ^= 1;
  expect(verifyP256(key, sha256(tampered), parsed.document.signature)).toBe(false);
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" });
  expect(verifyP256(parsePublicKey(new Uint8Array(other)), sha256(image), parsed.document.signature)).toBe(false);
  // openssl, with the PEM public key beside it, agrees.
  const signature = join(dir, "signature.der");
  writeFileSync(signature, parsed.document.signature);
  const openssl = spawnSync("openssl", ["dgst", "-sha256", "-verify", join(pki.dir, "ota/ota-key.pem"), "-signature", signature, imagePath], { encoding: "utf8" });
  expect(openssl.stdout.trim()).toBe("Verified OK");

  expect(run.stdout).toContain("aws s3api put-object --bucket iiot-firmware-bucket --key images/0.5.0/xs_esp32.bin");
  expect(run.stdout).toContain(`aws iot create-stream --stream-id fw-0-5-0 --description 'iiot-node firmware 0.5.0' --role-arn arn:aws:iam::123456789012:role/image --files '[{"fileId":0,"s3Location":{"bucket":"iiot-firmware-bucket","key":"images/0.5.0/xs_esp32.bin","version":"'"$IMAGE_VERSION"'"}}]'`);
  expect(run.stdout).toContain(`aws s3 cp ${out} s3://iiot-firmware-bucket/jobs/fw-0-5-0-test.json`);
  expect(run.stdout).toContain(
    `aws iot create-job --job-id fw-0-5-0-test --targets "$(aws iot describe-thing --thing-name press-7 --query thingArn --output text)" --job-template-arn arn:aws:iot:eu-west-1:123456789012:jobtemplate/iiot-firmware-update --document-source https://s3.amazonaws.com/iiot-firmware-bucket/jobs/fw-0-5-0-test.json`,
  );
});

test("--presigned names the image by AWS's presigned-URL placeholder; a 32 KB block is taken for a stream; a key that is not P-256 is refused", { timeout: 60_000 }, () => {
  const out = join(dir, "presigned.json");
  const run = spawnSync(
    process.execPath,
    script(["--image", imagePath, "--version", "0.5.1", "--key", join(pki.dir, "ota/signing-key.pem"), "--thing-group", "line-3", "--out", out, "--presigned",
      "--bucket", "iiot-firmware-bucket", "--role-arn", "arn:aws:iam::123456789012:role/image", "--template-arn", "arn:aws:iot:eu-west-1:123456789012:jobtemplate/iiot-firmware-update"]),
    { cwd: root, encoding: "utf8", timeout: 50_000 },
  );
  expect(run.status, run.stderr).toBe(0);
  const document = JSON.parse(readFileSync(out, "utf8")) as { image: Record<string, unknown> };
  expect(document.image.url).toBe("${aws:iot:s3-presigned-url:https://s3.amazonaws.com/iiot-firmware-bucket/images/0.5.1/xs_esp32.bin}");
  expect(document.image).not.toHaveProperty("stream");
  expect(run.stdout).not.toContain("create-stream");
  expect(run.stdout).toContain("describe-thing-group --thing-group-name line-3 --query thingGroupArn");

  // The document's block (the device's download and progress unit) may be up to 32 KB for a stream:
  // the device asks AWS for it in 1 KB stream blocks (src/ota/stream-source.ts).
  const blocks = (size: number, ...more: string[]) =>
    spawnSync(process.execPath, script(["--image", imagePath, "--version", "0.5.1", "--key", join(pki.dir, "ota/signing-key.pem"), "--thing", THING, "--out", join(dir, `b${size}.json`), "--block-size", String(size), "--bucket", "b-b-b", "--role-arn", "r", "--template-arn", "t", ...more]), { cwd: root, encoding: "utf8", timeout: 50_000 });
  expect(blocks(32768).status).toBe(0);

  const rsa = join(dir, "rsa.pem");
  writeFileSync(rsa, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs8" }));
  const refused = spawnSync(process.execPath, script(["--image", imagePath, "--version", "0.5.1", "--key", rsa, "--thing", THING, "--out", join(dir, "x.json"), "--bucket", "b-b-b", "--role-arn", "r", "--template-arn", "t"]), {
    cwd: root,
    encoding: "utf8",
    timeout: 50_000,
  });
  expect(refused.status).toBe(2);
  expect(refused.stderr).toMatch(/must be ECDSA P-256/);
});

test("--local: the job and its stream on the local mirror's Mosquitto; a device downloads, checks and reports SUCCEEDED; the script exits 0", { timeout: 60_000 }, async () => {
  let broker: MosquittoProcess | undefined;
  let child: ChildProcess | undefined;
  let device: mqtt.MqttClient | undefined;
  try {
    broker = await startMosquitto({ port: await freePort(), certsDir: pki.dir, dataDir: mkdtempSync(join(tmpdir(), "iiot-ota-mosquitto-")), layout: DEFAULT_LAYOUT, rules: ruleDefinitions(), rulesRunner: "iiot-rules" });
    const url = `mqtts://127.0.0.1:${broker.port}`;
    let output = "";
    child = spawn(process.execPath, script(["--image", imagePath, "--version", "0.6.0", "--key", join(pki.dir, "ota/signing-key.pem"), "--thing", THING, "--out", join(dir, "local.json"), "--local", "--broker", url, "--certs", pki.dir, "--timeout", "40"]), { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));

    await until(() => output.includes("waiting for the device") || child!.exitCode !== null, "the job queued", 30_000).catch((error: Error) => {
      throw new Error(`${error.message}; ota:job printed:\n${output}`);
    });
    // The device comes up once the job is queued: its start-next at connect finds it.
    device = await mqtt.connectAsync(url, { ...pki.tlsOptions(THING), clientId: THING, servername: "localhost", rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 5000 });
    const d = device;
    const jobs: JobExecution[] = [];
    const messages: { topic: string; text: string }[] = [];
    const client = new JobsClient({
      thing: THING,
      publish: (topic, payload) => (d.publish(topic, payload, { qos: 1 }), true),
      now: Date.now,
      events: { onJob: (job) => void jobs.push(job), onJobGone: () => {} },
    });
    d.on("message", (topic, payload) => {
      const text = payload.toString("utf8");
      messages.push({ topic, text });
      client.receive(topic, text);
    });
    await d.subscribeAsync([...client.subscriptions, streamDataTopic(THING, "fw-0-6-0")], { qos: 1 });
    client.connected();

    await until(() => jobs.length === 1 || child!.exitCode !== null, "the job at the device", 30_000).catch((error: Error) => {
      throw new Error(`${error.message}; ota:job printed:\n${output}`);
    });
    expect(jobs.length, output).toBe(1);
    const parsed = parseUpdateDocument(jobs[0].document, LIMITS);
    if (!parsed.ok) throw new Error(parsed.reason);
    client.report("IN_PROGRESS", { phase: "downloading" });
    const { source, size, blockSize } = parsed.document;
    if (source.kind !== "stream") throw new Error("expected a stream");
    const tracker = new DownloadTracker(size, blockSize);
    const received = new Uint8Array(size);
    for (let request = tracker.next(); request; request = tracker.next()) {
      const token = `b${request.index}`;
      const { topic, payload } = streamRequest(THING, source.streamId, source.fileId, request, blockSize, token);
      d.publish(topic, payload, { qos: 1 });
      let block: { i: number; p: string } | undefined;
      await until(() => (block = messages.map((m) => JSON.parse(m.text)).find((b) => b.c === token)) !== undefined, `block ${request.index}`, 5000);
      received.set(Buffer.from(block!.p, "base64"), request.offset);
      tracker.completed(request.index);
    }
    const key = parsePublicKey(new Uint8Array(readFileSync(join(pki.dir, "ota/ota-key.der"))));
    const digest = sha256(received);
    expect(toHex(digest)).toBe(toHex(parsed.document.sha256));
    expect(verifyP256(key, digest, parsed.document.signature)).toBe(true);
    client.report("SUCCEEDED", { phase: "confirmed" });
    expect(await exited, output).toBe(0);
    expect(output).toMatch(/ota: fw-0-6-0-\w+ IN_PROGRESS \{"phase":"downloading"\}/);
    expect(output).toMatch(/ota: fw-0-6-0-\w+ ended SUCCEEDED/);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await device?.endAsync(true);
    await broker?.stop();
  }
});
