// A local stand-in for the device-facing side of AWS IoT Jobs and of MQTT-based file delivery: an
// MQTT client (its own identity, e.g. iiot-jobs) on the local broker that answers what devices
// publish on `$aws/things/<thing>/jobs/start-next`, `.../jobs/<jobId>/update`, `.../jobs/get`,
// `.../jobs/<jobId>/get` and `.../streams/<streamId>/get/json`, and publishes notify-next when a thing's next job changes. The
// rules live in job-executions.ts and stream-delivery.ts; this file only moves messages. On AWS the
// broker itself answers and the replies reach only the requesting client; here they go to the
// thing's reply topics, which the Mosquitto ACL (mosquitto-config.ts) lets only that thing read.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";
import { JobExecutions, type Accepted, type Outgoing } from "./job-executions.ts";
import { getStream, type Stream } from "./stream-delivery.ts";
import { JOBS_SERVICE_GRANTS } from "../topics.ts";

export interface LocalJobsOptions {
  /** mqtts://host:port (or mqtt:// for a broker without TLS). */
  url: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  /** Default JOBS_SERVICE_IDENTITY. */
  clientId?: string;
}

export interface HistoryEntry extends Accepted {
  /** Milliseconds since the epoch. */
  at: number;
}

/** The service's certificate CN and client id in the local mirror (its ACL entry: JOBS_SERVICE_GRANTS). */
export const JOBS_SERVICE_IDENTITY = "iiot-jobs";

/** The requests this service answers, for every thing. */
export const JOBS_SERVICE_SUBSCRIPTIONS = JOBS_SERVICE_GRANTS.filter((g) => g.action === "subscribe").map((g) => g.topic.replaceAll("{thing}", "+"));

const START_NEXT = /^\$aws\/things\/([^/]+)\/jobs\/start-next$/;
const UPDATE = /^\$aws\/things\/([^/]+)\/jobs\/([^/]+)\/update$/;
const GET_PENDING = /^\$aws\/things\/([^/]+)\/jobs\/get$/;
const DESCRIBE = /^\$aws\/things\/([^/]+)\/jobs\/([^/]+)\/get$/;
const GET_STREAM = /^\$aws\/things\/([^/]+)\/streams\/([^/]+)\/get\/json$/;

type Waiter = { thing: string; jobId: string; statuses: readonly string[]; resolve: () => void; reject: (error: Error) => void };

/**
 * The service's TLS identity from a dev PKI folder (certs/generate.sh's layout), its certificate
 * made on first use, as the rules runner's is.
 */
export function jobsServiceTls(certsDir: string): { ca: Buffer; cert: Buffer; key: Buffer } {
  const generate = fileURLToPath(new URL("../../certs/generate.sh", import.meta.url));
  try {
    execFileSync(generate, ["--out", certsDir, "--no-stage", JOBS_SERVICE_IDENTITY], { stdio: "ignore" });
  } catch {
    throw new Error(`could not generate the jobs service's certificate in ${certsDir} (certs/generate.sh; is openssl installed?)`);
  }
  const dir = join(certsDir, "devices", JOBS_SERVICE_IDENTITY);
  return { ca: readFileSync(join(certsDir, "ca.pem")), cert: readFileSync(join(dir, "device.pem")), key: readFileSync(join(dir, "device.key")) };
}

export class LocalJobs {
  readonly #client: MqttClient;
  readonly #executions = new JobExecutions();
  readonly #streams = new Map<string, Stream>();
  readonly #history: HistoryEntry[] = [];
  #waiters: Waiter[] = [];

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on("message", (topic, payload) => this.#receive(topic, payload.toString("utf8")));
  }

  /** Connects, subscribes to every thing's job and stream requests, and resolves once subscribed. */
  static async start(options: LocalJobsOptions): Promise<LocalJobs> {
    const client = await mqtt.connectAsync(options.url, {
      clientId: options.clientId ?? JOBS_SERVICE_IDENTITY,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      servername: options.servername,
      rejectUnauthorized: options.ca !== undefined,
      clean: true,
      connectTimeout: 10_000,
      reconnectPeriod: 1000,
    });
    try {
      const granted = await client.subscribeAsync(JOBS_SERVICE_SUBSCRIPTIONS, { qos: 1 });
      const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
      if (refused.length > 0) throw new Error(`jobs service: the broker refused ${refused.join(", ")}`);
      // A clean session subscribes again after a reconnect.
      client.on("connect", (connack) => {
        if (!connack.sessionPresent) void client.subscribeAsync(JOBS_SERVICE_SUBSCRIPTIONS, { qos: 1 }).catch(() => {});
      });
    } catch (error) {
      await client.endAsync(true);
      throw error;
    }
    return new LocalJobs(client);
  }

  /** CreateJob for one thing: a QUEUED execution, and notify-next when it is the thing's next job. */
  createJob(thing: string, jobId: string, document: unknown): void {
    this.#send(thing, this.#executions.create(thing, jobId, document));
  }

  /** CancelJob: the execution becomes CANCELED (notify-next when it was the next job). */
  cancelJob(thing: string, jobId: string): void {
    this.#send(thing, this.#executions.cancel(thing, jobId));
    this.#wake();
  }

  /** CreateStream, or UpdateStream for an id already added (its version goes up). */
  addStream(streamId: string, files: ReadonlyMap<number, Uint8Array>): void {
    if (!/^[a-zA-Z0-9_-]{1,128}$/.test(streamId)) throw new RangeError(`jobs: not a stream id: ${JSON.stringify(streamId)}`);
    for (const id of files.keys()) if (!Number.isInteger(id) || id < 0 || id > 255) throw new RangeError(`jobs: stream file id ${id} is not 0..255`);
    this.#streams.set(streamId, { version: (this.#streams.get(streamId)?.version ?? 0) + 1, files: new Map(files) });
  }

  execution(thing: string, jobId: string): { status: string; statusDetails: Record<string, string>; versionNumber: number } | undefined {
    const e = this.#executions.get(thing, jobId);
    return e && { status: e.status, statusDetails: { ...e.statusDetails }, versionNumber: e.versionNumber };
  }

  /** Resolves when the execution has one of the statuses (at once if it has); rejects after timeoutMs. */
  waitFor(thing: string, jobId: string, statuses: readonly string[], timeoutMs: number): Promise<{ status: string; statusDetails: Record<string, string> }> {
    const current = () => {
      const e = this.execution(thing, jobId);
      return e && statuses.includes(e.status) ? { status: e.status, statusDetails: e.statusDetails } : undefined;
    };
    const now = current();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        thing,
        jobId,
        statuses,
        resolve: () => {
          clearTimeout(timer);
          resolve(current()!);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        const e = this.execution(thing, jobId);
        reject(new Error(`jobs: ${jobId} on ${thing} did not reach ${statuses.join(" or ")} in ${timeoutMs} ms (it is ${e ? e.status : "unknown"})`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /**
   * Every execution state change a device request made and the service accepted, in order: a
   * start-next that moved a QUEUED execution to IN_PROGRESS, and every accepted update.
   */
  get history(): readonly HistoryEntry[] {
    return this.#history;
  }

  /** Disconnects; a waitFor still pending rejects at once. */
  async stop(): Promise<void> {
    for (const w of this.#waiters.splice(0)) w.reject(new Error(`jobs: the service stopped before ${w.jobId} on ${w.thing} reached ${w.statuses.join(" or ")}`));
    await this.#client.endAsync();
  }

  #receive(topic: string, payload: string): void {
    let m: RegExpExecArray | null;
    if ((m = START_NEXT.exec(topic))) {
      const { out, accepted } = this.#executions.startNext(m[1], payload);
      this.#record(accepted);
      this.#send(m[1], out);
    } else if ((m = UPDATE.exec(topic))) {
      const { out, accepted } = this.#executions.update(m[1], m[2], payload);
      this.#record(accepted);
      this.#send(m[1], out);
    } else if ((m = GET_PENDING.exec(topic))) {
      this.#send(m[1], this.#executions.getPending(m[1], payload));
    } else if ((m = DESCRIBE.exec(topic))) {
      this.#send(m[1], this.#executions.describe(m[1], m[2], payload));
    } else if ((m = GET_STREAM.exec(topic))) {
      const base = `$aws/things/${m[1]}/streams/${m[2]}`;
      const answer = getStream(this.#streams.get(m[2]), payload);
      if ("rejected" in answer) this.#publish(`${base}/rejected/json`, answer.rejected);
      else for (const block of answer.data) this.#publish(`${base}/data/json`, block);
    }
  }

  #record(accepted: Accepted | undefined): void {
    if (!accepted) return;
    this.#history.push({ ...accepted, at: Date.now() });
    this.#wake();
  }

  #wake(): void {
    const ready = this.#waiters.filter((w) => w.statuses.includes(this.#executions.get(w.thing, w.jobId)?.status ?? ""));
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  #send(thing: string, out: Outgoing[]): void {
    for (const message of out) this.#publish(`$aws/things/${thing}/jobs/${message.suffix}`, message.body);
  }

  #publish(topic: string, body: Record<string, unknown>): void {
    // QoS 1, in order; a publish lost with the connection is the device's to ask again (as on AWS).
    this.#client.publish(topic, JSON.stringify(body), { qos: 1 }, () => {});
  }
}
