// Firmware updates as the node runs them, pure: the Jobs client (src/ota/jobs-client.ts), the update
// agent (src/ota/agent.ts) and the image's blocks over the node's MQTT connection
// (src/ota/stream-source.ts), wired to what the node gives: a way to publish while connected, the
// messages of its subscriptions, whether it is online, and a tick. main.ts builds one per boot,
// before the network starts (boot() decides whether this boot is a new image's self-test).

import { OtaAgent, type ImageHash, type SelfTestCheck } from "./agent";
import { JobsClient, type JobExecution, type JobsEvents } from "./jobs-client";
import { FlashRecordStore } from "./ota-record";
import { parsePublicKey, type PublicKey } from "./p256";
import { StreamBlockSource } from "./stream-source";
import type { BlockSource, BootControl, UpdateSlot } from "./slot";
import type { FlashDevice } from "../log/flash-log";
import type { UpdateDocument } from "./job-document";
import { utf8Decode } from "../util/utf8";

/** What a target gives the updates: see sim/ota/platform.ts and src/ota/esp32/. */
export interface OtaPlatform {
  /** The version of the image that is running. */
  runningVersion: string;
  slot: UpdateSlot;
  boot: BootControl;
  /** Two sectors (at least) for the update record. */
  records: FlashDevice;
  /** A native SHA-256 where the platform has one (ESP32: the SDK's crypt Digest). */
  hash?(): ImageHash;
}

export interface UpdateServiceOptions {
  thing: string;
  /** Undefined on a board without update slots: update jobs are rejected with `unavailable`. */
  platform: OtaPlatform | undefined;
  /** Why there is no platform. */
  unavailable?: string;
  /** The running version where there is no platform. */
  version: string;
  /** The public key images must be signed with (SubjectPublicKeyInfo DER or an uncompressed point); none: updates refused. */
  publicKey: Uint8Array | undefined;
  /** Publishes at QoS 1 outside the telemetry; false when not connected. */
  publish(topic: string, payload: string): boolean;
  now(): number;
  log(line: string): void;
  /** Runs fn later (a 0 ms timer), so hashing an image yields to sampling. */
  defer?(fn: () => void): void;
  /** The self-test's deadline (default 5 minutes). */
  selfTestTimeoutMs?: number;
}

export class UpdateService {
  readonly #o: UpdateServiceOptions;
  readonly #jobs: JobsClient;
  readonly #agent: OtaAgent | undefined;
  #stream: StreamBlockSource | undefined;
  #online = false;
  readonly subscriptions: readonly string[];

  constructor(options: UpdateServiceOptions) {
    this.#o = options;
    let key: PublicKey | undefined;
    let keyProblem = "this firmware has no update key built in";
    const { platform } = options;
    if (!platform) keyProblem = options.unavailable ?? "this board has no update slots";
    else if (options.publicKey) {
      try {
        key = parsePublicKey(options.publicKey);
      } catch (error) {
        keyProblem = `this firmware's update key is unusable (${error instanceof Error ? error.message : String(error)})`;
      }
    }
    this.#agent = key && platform && new OtaAgent({
      runningVersion: platform.runningVersion,
      slot: platform.slot,
      boot: platform.boot,
      store: new FlashRecordStore(platform.records),
      publicKey: key,
      source: (doc) => this.#source(doc),
      accepts: (doc) => (doc.source.kind === "stream" ? undefined : "this firmware downloads images over MQTT file delivery only (image.stream), not HTTPS"),
      now: options.now,
      log: options.log,
      defer: options.defer,
      hash: platform.hash,
      selfTestTimeoutMs: options.selfTestTimeoutMs,
    });
    if (!this.#agent) options.log(`ota: ${keyProblem}; update jobs are rejected`);
    // Without a key, every job is refused with the reason: a fleet operator sees why in the job.
    const events: JobsEvents = this.#agent ?? { onJob: (_job: JobExecution) => keyProblem, onJobGone: () => {} };
    const log = options.log;
    this.#jobs = new JobsClient({
      thing: options.thing,
      publish: (topic, payload) => options.publish(topic, payload),
      now: options.now,
      events: { onJob: (job) => events.onJob(job), onJobGone: (id, why) => events.onJobGone(id, why), onLog: log },
    });
    this.#agent?.attach(this.#jobs);
    this.subscriptions = [...this.#jobs.subscriptions, ...StreamBlockSource.subscriptions(options.thing)];
  }

  /** At start-up, before the network: a new image's first boot starts its self-test here. */
  boot(): void {
    this.#agent?.boot();
  }

  /** "testing" while a new image confirms itself; "idle", "downloading", ... otherwise. */
  get phase(): string {
    return this.#agent?.phase ?? "disabled";
  }

  get runningVersion(): string {
    return this.#o.platform?.runningVersion ?? this.#o.version;
  }

  selfTestPassed(check: SelfTestCheck): void {
    this.#agent?.selfTestPassed(check);
  }

  selfTestFailed(check: SelfTestCheck, reason: string): void {
    this.#agent?.selfTestFailed(check, reason);
  }

  /** A session is up and subscribed. */
  connected(): void {
    this.#online = true;
    this.#jobs.connected();
  }

  /** One incoming message; false when it is not for the updates. */
  handle(topic: string, payload: Uint8Array): boolean {
    if (!topic.startsWith("$aws/things/")) return false;
    const text = utf8Decode(payload);
    if (this.#jobs.receive(topic, text)) return true;
    if (this.#stream?.receive(topic, text)) return true;
    // A stream's late answers after its download ended are still ours: nothing else reads them.
    return topic.startsWith(`$aws/things/${this.#o.thing}/streams/`);
  }

  /** About once a second, with whether the node is connected now. */
  tick(online: boolean): void {
    if (this.#online && !online) this.#jobs.disconnected();
    this.#online = online;
    this.#stream?.tick();
    this.#agent?.tick();
    this.#jobs.tick();
  }

  #source(doc: UpdateDocument): BlockSource {
    if (doc.source.kind !== "stream") throw new Error("no HTTPS downloads on this firmware");
    this.#stream = new StreamBlockSource({
      thing: this.#o.thing, streamId: doc.source.streamId, fileId: doc.source.fileId,
      publish: (topic, payload) => this.#o.publish(topic, payload), now: this.#o.now,
    });
    return this.#stream;
  }
}
