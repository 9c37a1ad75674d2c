// The image over MQTT file delivery (src/ota/stream-source.ts) and the update service that wires the
// Jobs client, the agent and the stream to a node's connection (src/ota/update-service.ts), driven
// message by message through a fake AWS (jobs and a stream) that records what the device publishes.

import { test, equal, deepEqual, assert } from "./api";
import { StreamBlockSource } from "../../src/ota/stream-source";
import { UpdateService } from "../../src/ota/update-service";
import { base64Encode, base64DecodeInto, base64Decode } from "../../src/ota/base64";
import { fromHex } from "../../src/ota/sha256";
import { SimNorFlash } from "../../sim/nor-flash";
import { SimOtaDevice, buildSimImage } from "../../sim/ota/dual-slot";
import { utf8Encode } from "../../src/util/utf8";
import { FakeJobsService, NEW_IMAGE, NEW_SHA256, NEW_SIGNATURE, OLD_VERSION, TEST_KEY_SPKI } from "./ota-rig";
import { UPDATE_OPERATION } from "../../src/ota/job-document";

const THING = "press-7";
const DATA = `$aws/things/${THING}/streams/fw-1/data/json`;
const REJECTED = `$aws/things/${THING}/streams/fw-1/rejected/json`;

/** AWS's side of one stream: answers GetStream requests from the file, in any order it is told. */
class FakeStream {
  readonly requests: Record<string, unknown>[] = [];
  constructor(readonly file: Uint8Array) {}
  /** The data messages for a request, block by block. */
  answer(payload: string): { topic: string; payload: string }[] {
    const r = JSON.parse(payload) as { c: string; f: number; l: number; o: number; n: number };
    this.requests.push(r);
    const out = [];
    for (let i = r.o; i < r.o + r.n; i++) {
      const start = i * r.l;
      if (start >= this.file.length) break;
      const block = this.file.subarray(start, Math.min(this.file.length, start + r.l));
      out.push({ topic: DATA, payload: JSON.stringify({ c: r.c, f: r.f, l: block.length, i, p: base64Encode(block) }) });
    }
    return out;
  }
}

function source(publishes: { topic: string; payload: string }[], now: () => number, connected = true): StreamBlockSource {
  return new StreamBlockSource({
    thing: THING, streamId: "fw-1", fileId: 0, now,
    publish: (topic, payload) => {
      if (!connected) return false;
      publishes.push({ topic, payload });
      return true;
    },
  });
}

const file = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 31 + 7) & 0xff);

test("ota stream: one request of four 1 KB blocks fills a 4 KB block, whatever the order, duplicates ignored", () => {
  const sent: { topic: string; payload: string }[] = [];
  const s = source(sent, () => 0);
  const buffer = new Uint8Array(4096);
  const results: (string | undefined)[] = [];
  s.fetch(4096, 4096, buffer, (error) => results.push(error));
  equal(sent.length, 1);
  equal(sent[0].topic, `$aws/things/${THING}/streams/fw-1/get/json`);
  const request = JSON.parse(sent[0].payload);
  deepEqual([request.f, request.l, request.o, request.n], [0, 1024, 4, 4]);
  const answers = new FakeStream(file).answer(sent[0].payload);
  equal(answers.length, 4);
  for (const k of [2, 0, 0, 3]) assert(s.receive(answers[k].topic, answers[k].payload), "its topic");
  equal(results.length, 0, "not done before every block is in");
  s.receive(answers[1].topic, answers[1].payload);
  deepEqual(results, [undefined]);
  deepEqual([...buffer], [...file.subarray(4096, 8192)]);
});

test("ota stream: the file's last, short block; another request's answers and other topics are not taken", () => {
  const sent: { topic: string; payload: string }[] = [];
  const s = source(sent, () => 0);
  const buffer = new Uint8Array(4096);
  const results: (string | undefined)[] = [];
  s.fetch(8192, 10_000 - 8192, buffer, (error) => results.push(error));
  const stale = JSON.stringify({ c: "someone-else", f: 0, l: 1024, i: 8, p: base64Encode(new Uint8Array(1024)) });
  assert(s.receive(DATA, stale), "its topic even so");
  equal(s.receive("$aws/things/press-7/jobs/notify-next", "{}"), false);
  for (const a of new FakeStream(file).answer(sent[0].payload)) s.receive(a.topic, a.payload);
  deepEqual(results, [undefined]);
  deepEqual([...buffer.subarray(0, 10_000 - 8192)], [...file.subarray(8192)]);
});

test("ota stream: a refusal, a block of the wrong size and silence each fail the fetch with a reason", () => {
  let now = 0;
  const sent: { topic: string; payload: string }[] = [];
  const s = source(sent, () => now);
  const results: (string | undefined)[] = [];
  const buffer = new Uint8Array(4096);
  s.fetch(0, 4096, buffer, (error) => results.push(error));
  const token = JSON.parse(sent[0].payload).c;
  s.receive(REJECTED, JSON.stringify({ o: "ResourceNotFound", m: "no such stream", c: token }));
  equal(results.length, 1);
  assert(/ResourceNotFound: no such stream/.test(results[0] ?? ""), results[0]);

  s.fetch(0, 4096, buffer, (error) => results.push(error));
  const short = JSON.stringify({ c: JSON.parse(sent[1].payload).c, f: 0, l: 1000, i: 0, p: base64Encode(new Uint8Array(1000)) });
  s.receive(DATA, short);
  assert(/expected 1024 bytes/.test(results[1] ?? ""), results[1]);

  s.fetch(0, 4096, buffer, (error) => results.push(error));
  now += 29_999;
  s.tick();
  equal(results.length, 2, "not yet");
  now += 1;
  s.tick();
  assert(/no answer from stream fw-1 in 30 s/.test(results[2] ?? ""), results[2]);

  const offline = source([], () => 0, false);
  offline.fetch(0, 4096, buffer, (error) => results.push(error));
  equal(results[3], "not connected");
});

test("ota base64: decoding into a buffer writes in place and refuses what is not canonical", () => {
  const out = new Uint8Array(8).fill(0xee);
  equal(base64DecodeInto("AQID", out, 2), 3);
  deepEqual([...out], [0xee, 0xee, 1, 2, 3, 0xee, 0xee, 0xee]);
  equal(base64DecodeInto("AQI=", out, 6), 2);
  equal(base64DecodeInto("AQID", out, 6), -1, "does not fit");
  equal(base64DecodeInto("AQJ=", out, 0), -1, "padding bits set");
  equal(base64DecodeInto("A*ID", out, 0), -1, "not base64");
  deepEqual([...(base64Decode("AQ==") ?? [])], [1]);
  equal(base64Decode("AQ="), undefined, "not a multiple of 4");
  deepEqual([...(base64Decode("/+8=") ?? [])], [0xff, 0xef]);
});

/** A node's view of the update service over a fake AWS: publish goes to the fake, its answers come back as messages. */
class ServiceRig {
  readonly flash = new SimNorFlash({ byteLength: (4 + 2 * 8) * 4096, blockSize: 4096 });
  readonly device = new SimOtaDevice(this.flash, 8);
  readonly jobs: FakeJobsService;
  readonly stream: FakeStream;
  readonly inbox: { topic: string; payload: string }[] = [];
  readonly logs: string[] = [];
  online = true;
  time = 1_000_000;
  restarts = 0;
  service!: UpdateService;

  constructor(document: Record<string, unknown>, served: Uint8Array) {
    this.device.flashFactory(buildSimImage(OLD_VERSION, 15000, 3));
    this.jobs = new FakeJobsService(THING, "ota-job-1", document);
    this.stream = new FakeStream(served);
  }

  boot(withKey = true): void {
    const key = withKey ? fromHex(TEST_KEY_SPKI) : undefined;
    const booted = this.device.powerOn()!;
    const boot = this.device.bootControl();
    this.service = new UpdateService({
      thing: THING,
      version: OLD_VERSION,
      platform: {
        runningVersion: booted.version, slot: this.device.updateSlot(), records: this.device.recordFlash,
        boot: { ...boot, reboot: () => this.restarts++, rollback: () => { boot.rollback(); this.restarts++; } },
      },
      publicKey: key,
      publish: (topic, payload) => {
        if (!this.online) return false;
        if (topic.includes("/streams/")) this.inbox.push(...this.stream.answer(payload));
        else {
          this.jobs.handle(topic, payload);
          this.inbox.push(...this.jobs.inbox.splice(0));
        }
        return true;
      },
      now: () => this.time,
      log: (line) => this.logs.push(line),
    });
    this.service.boot();
    this.service.selfTestPassed("log");
    this.service.selfTestPassed("sensors");
    this.service.connected();
    this.service.selfTestPassed("broker");
  }

  /** Delivers what arrived, then one second passes. */
  step(): void {
    while (this.inbox.length > 0) {
      const m = this.inbox.shift()!;
      assert(this.service.handle(m.topic, utf8Encode(m.payload)), `handled ${m.topic}`);
    }
    this.time += 1000;
    this.service.tick(this.online);
  }

  /** Steps until the job is over or a restart is asked for. */
  run(maxSteps = 2000): void {
    const restarts = this.restarts;
    for (let i = 0; i < maxSteps; i++) {
      if (this.restarts !== restarts || (this.jobs.terminal && this.inbox.length === 0)) return;
      this.step();
    }
    throw new Error(`not settled: job ${this.jobs.status}, service ${this.service.phase}`);
  }
}

function streamDocument(image: Record<string, unknown> = {}): Record<string, unknown> {
  return { operation: UPDATE_OPERATION, version: NEW_IMAGE.version, image: { stream: { id: "fw-1", fileId: 0 }, size: NEW_IMAGE.length, sha256: NEW_SHA256, signature: NEW_SIGNATURE, ...image } };
}
const goodImage = () => buildSimImage(NEW_IMAGE.version, NEW_IMAGE.length, NEW_IMAGE.seed);

test("ota service: a job over MQTT file delivery downloads, verifies, reboots into the new image, which confirms itself: SUCCEEDED", () => {
  const rig = new ServiceRig(streamDocument(), goodImage());
  rig.boot();
  equal(rig.service.runningVersion, OLD_VERSION);
  rig.run();
  equal(rig.restarts, 1, "rebooted once, into the new image");
  // 20,000 bytes in 4 KB blocks: five requests of 1 KB stream blocks
  deepEqual(rig.stream.requests.map((r) => [r.o, r.n]), [[0, 4], [4, 4], [8, 4], [12, 4], [16, 4]]);
  rig.boot();
  equal(rig.service.runningVersion, NEW_IMAGE.version);
  rig.run();
  equal(rig.jobs.status, "SUCCEEDED");
  equal(rig.device.bootControl().runningState(), "valid");
});

test("ota service: an HTTPS document is rejected with the reason; a corrupted stream fails at verification on the old image", () => {
  const https = new ServiceRig({ ...streamDocument(), image: { ...(streamDocument().image as object), stream: undefined, url: "https://images.example/fw.bin" } }, goodImage());
  https.boot();
  https.run();
  equal(https.jobs.status, "REJECTED");
  assert(/MQTT file delivery only/.test(https.jobs.details.reason ?? ""), JSON.stringify(https.jobs.details));

  const corrupted = goodImage();
  corrupted[5000] ^= 0x40;
  const rig = new ServiceRig(streamDocument(), corrupted);
  rig.boot();
  rig.run();
  equal(rig.jobs.status, "FAILED");
  assert(/sha256 mismatch/.test(rig.jobs.details.reason ?? ""), JSON.stringify(rig.jobs.details));
  equal(rig.restarts, 0);
  equal(rig.service.runningVersion, OLD_VERSION);
});

test("ota service: a board without update slots rejects every job with the reason", () => {
  const jobs = new FakeJobsService(THING, "ota-job-1", streamDocument());
  const inbox: { topic: string; payload: string }[] = [];
  const service = new UpdateService({
    thing: THING, version: "0.3.0", platform: undefined, unavailable: "this board has no update slots (no ota_1 partition)", publicKey: fromHex(TEST_KEY_SPKI),
    publish: (topic, payload) => {
      jobs.handle(topic, payload);
      inbox.push(...jobs.inbox.splice(0));
      return true;
    },
    now: () => 0, log: () => {},
  });
  service.boot();
  service.connected();
  while (inbox.length > 0) {
    const m = inbox.shift()!;
    service.handle(m.topic, utf8Encode(m.payload));
  }
  equal(jobs.status, "REJECTED");
  equal(jobs.details.reason, "this board has no update slots (no ota_1 partition)");
  equal(service.runningVersion, "0.3.0");
  equal(service.phase, "disabled");
});

test("ota service: without an update key every job is rejected with the reason, nothing is written", () => {
  const rig = new ServiceRig(streamDocument(), goodImage());
  rig.boot(false);
  equal(rig.service.phase, "disabled");
  rig.run();
  equal(rig.jobs.status, "REJECTED");
  assert(/no update key/.test(rig.jobs.details.reason ?? ""), JSON.stringify(rig.jobs.details));
  equal(rig.stream.requests.length, 0);
});

test("ota service: a connection lost mid-download resumes the image where it stood once the node is back", () => {
  const rig = new ServiceRig(streamDocument(), goodImage());
  rig.boot();
  // answer two blocks' worth of stream requests, then the connection goes
  const original = rig.stream.answer.bind(rig.stream);
  let answered = 0;
  rig.stream.answer = (payload) => (++answered > 2 ? (rig.online = false, []) : original(payload));
  for (let i = 0; i < 200 && rig.online; i++) rig.step();
  equal(rig.online, false);
  rig.stream.answer = original;
  rig.time += 60_000;
  rig.service.tick(false);
  rig.online = true;
  rig.service.connected();
  rig.run();
  equal(rig.restarts, 1);
  // blocks 0 and 1 were never asked for again
  deepEqual(rig.stream.requests.filter((r) => r.o === 0).length, 1);
  rig.boot();
  rig.run();
  equal(rig.jobs.status, "SUCCEEDED");
});

test("ota stream: stream block sizes AWS takes (256 B to 128 KB), blocks on a stream block's boundary, and junk on its topics ignored", () => {
  const make = (streamBlockBytes: number) => () => new StreamBlockSource({ thing: THING, streamId: "fw-1", fileId: 0, now: () => 0, publish: () => true, streamBlockBytes });
  for (const bad of [255, 131_073, 1024.5]) {
    let threw = false;
    try {
      make(bad)();
    } catch (error) {
      threw = error instanceof RangeError;
    }
    assert(threw, `${bad} refused`);
  }
  make(256)();
  make(131_072)();
  const sent: { topic: string; payload: string }[] = [];
  const s = source(sent, () => 0);
  const results: (string | undefined)[] = [];
  const buffer = new Uint8Array(4096);
  s.fetch(1000, 1024, buffer, (error) => results.push(error));
  assert(/not on a 1024-byte stream block/.test(results[0] ?? ""), results[0]);
  equal(sent.length, 0);
  assert(s.receive(DATA, "{}"), "its topic, nothing asked");
  s.fetch(0, 2048, buffer, (error) => results.push(error));
  for (const junk of ["null", "7", "[", "{\"c\":1}"]) assert(s.receive(DATA, junk), "its topic");
  assert(s.receive(REJECTED, "null"), "its topic");
  equal(results.length, 1, "junk does not end the request");
  for (const a of new FakeStream(file).answer(sent[0].payload)) s.receive(a.topic, a.payload);
  deepEqual(results, [results[0], undefined]);
  const tokens = new Set<string>();
  for (let i = 0; i < 3; i++) {
    s.fetch(0, 1024, buffer, () => {});
    tokens.add(JSON.parse(sent[sent.length - 1].payload).c);
  }
  equal(tokens.size, 3, "a token per request");
  const long = new StreamBlockSource({ thing: THING, streamId: "s".repeat(128), fileId: 0, now: () => 0, publish: (topic, payload) => {
    sent.push({ topic, payload });
    return true;
  } });
  long.fetch(0, 1024, buffer, () => {});
  assert(JSON.parse(sent[sent.length - 1].payload).c.length <= 64, "a client token AWS takes (64 characters at most)");
});
