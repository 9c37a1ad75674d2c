// The device side of AWS IoT Jobs over MQTT, pure: one job execution at a time, on the thing's
// reserved topics ($aws/things/<thing>/jobs/...). It asks for the next pending execution
// (start-next: QUEUED becomes IN_PROGRESS; an execution already IN_PROGRESS, such as the update
// that rebooted the device, comes back first), hands it to its owner, and delivers that owner's
// status reports (jobs/<jobId>/update) one request at a time, matching every reply by clientToken.
// An IN_PROGRESS report not yet sent is replaced by a newer one; a terminal report (SUCCEEDED,
// FAILED, REJECTED) is kept until AWS accepts it, across reconnects. The owner wires publish() to
// the MQTT client (QoS 1), feeds receive() with the messages of subscriptions(), and calls
// connected(), disconnected() and tick() (about once a second).

export type JobStatus = "IN_PROGRESS" | "SUCCEEDED" | "FAILED" | "REJECTED";
const TERMINAL: ReadonlySet<string> = new Set(["SUCCEEDED", "FAILED", "REJECTED"]);

export interface JobExecution {
  jobId: string;
  /** The job document, as parsed JSON (unchecked). */
  document: unknown;
  status: string;
  statusDetails: Record<string, string>;
  versionNumber?: number;
  executionNumber?: number;
}

export interface JobsEvents {
  /** A started job execution. Return undefined to take it on, or a reason to reject it (REJECTED). */
  onJob(job: JobExecution): string | undefined;
  /** AWS no longer accepts reports for the current job (cancelled, deleted, already terminal): stop it. */
  onJobGone(jobId: string, reason: string): void;
  onLog?(line: string): void;
}

export interface JobsClientOptions {
  thing: string;
  /** Publishes at QoS 1; false when it could not (not connected): the request is sent again later. */
  publish(topic: string, payload: string): boolean;
  now(): number;
  events: JobsEvents;
  /** A request unanswered this long is sent again (default 30 s). */
  responseTimeoutMs?: number;
}

type State = "idle" | "starting" | "running" | "finishing";

interface Report {
  status: JobStatus;
  details: Record<string, string>;
}

interface Outstanding {
  kind: "start-next" | "update";
  token: string;
  sentAt: number;
  report?: Report;
}

/** statusDetails: at most 10 entries, string values of at most 256 characters (AWS takes more; the heap does not). */
export function cleanDetails(details: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  for (const key of Object.keys(details)) {
    if (n++ === 10) break;
    if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(key)) continue;
    const value = String(details[key]);
    out[key] = value.length === 0 ? "-" : value.slice(0, 256);
  }
  return out;
}

export class JobsClient {
  readonly #thing: string;
  readonly #prefix: string;
  readonly #options: JobsClientOptions;
  readonly #timeout: number;
  #state: State = "idle";
  #online = false;
  #jobId: string | undefined;
  #outstanding: Outstanding | undefined;
  /** The report to send when nothing is outstanding. */
  #queued: Report | undefined;
  /** A start-next to send (after a rejection or when the previous job ended) at or after this time. */
  #startAt = -1;
  #tokens = 0;
  /** start-next requests in a row that went unanswered. */
  #unanswered = 0;

  constructor(options: JobsClientOptions) {
    if (!/^[a-zA-Z0-9:_-]{1,128}$/.test(options.thing)) throw new RangeError("jobs: thing name not usable in a topic");
    this.#options = options;
    this.#thing = options.thing;
    this.#prefix = `$aws/things/${options.thing}/jobs/`;
    this.#timeout = options.responseTimeoutMs ?? 30_000;
  }

  /** The topic filters to subscribe to (QoS 1), before connected() is called. */
  get subscriptions(): string[] {
    const p = this.#prefix;
    return [`${p}notify-next`, `${p}start-next/accepted`, `${p}start-next/rejected`, `${p}+/update/accepted`, `${p}+/update/rejected`];
  }

  get state(): State {
    return this.#state;
  }

  get currentJobId(): string | undefined {
    return this.#jobId;
  }

  /** The session is up and subscribed: send what is waiting, or ask for the next job. */
  connected(): void {
    this.#online = true;
    // Whatever was in flight may be lost: ask again (a report that was unanswered goes first
    // unless a newer one replaced it).
    const lost = this.#outstanding;
    this.#outstanding = undefined;
    if (lost?.kind === "update") this.#queued ??= lost.report;
    if (this.#state === "idle" || this.#state === "starting") this.#startNext();
    else this.#flush();
  }

  disconnected(): void {
    this.#online = false;
  }

  /** Sends a request again when its reply is overdue, and a delayed start-next when due. */
  tick(): void {
    if (!this.#online) return;
    const now = this.#options.now();
    const o = this.#outstanding;
    // Unanswered start-nexts are asked again less and less often (up to 32 times the timeout): a
    // broker with no Jobs service behind it (a local Mosquitto) never answers.
    const wait = o?.kind === "start-next" ? this.#timeout * 2 ** Math.min(this.#unanswered, 5) : this.#timeout;
    if (o && now - o.sentAt >= wait) {
      if (o.kind !== "start-next" || this.#unanswered === 0) this.#log(`jobs: no answer to ${o.kind} in ${wait} ms; asking again${o.kind === "start-next" ? ", less often while none comes" : ""}`);
      if (o.kind === "start-next") this.#unanswered++;
      this.#outstanding = undefined;
      if (o.kind === "start-next") this.#startNext();
      else {
        this.#queued ??= o.report;
        this.#flush();
      }
    } else if (!o && this.#state === "idle" && this.#startAt >= 0 && now >= this.#startAt) this.#startNext();
  }

  /**
   * A status report for the current job. IN_PROGRESS replaces an unsent IN_PROGRESS; a terminal
   * status ends the job once AWS accepts it, and then the next job is asked for.
   */
  report(status: JobStatus, details: Record<string, unknown> = {}): void {
    if (this.#jobId === undefined || this.#state !== "running") throw new Error(`jobs: no running job to report ${status} for`);
    if (TERMINAL.has(status)) this.#state = "finishing";
    this.#queued = { status, details: cleanDetails(details) };
    this.#flush();
  }

  /** One MQTT message; false when the topic is not one of this client's. */
  receive(topic: string, payload: string): boolean {
    if (!topic.startsWith(this.#prefix)) return false;
    const rest = topic.slice(this.#prefix.length);
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(payload);
      if (typeof parsed !== "object" || parsed === null) throw new SyntaxError("not an object");
      message = parsed as Record<string, unknown>;
    } catch {
      this.#log(`jobs: unreadable message on ${topic}`);
      return true;
    }
    if (rest === "notify-next") this.#onNotifyNext(message);
    else if (rest === "start-next/accepted") this.#onStartAccepted(message);
    else if (rest === "start-next/rejected") this.#onStartRejected(message);
    else {
      const match = /^(.+)\/update\/(accepted|rejected)$/.exec(rest);
      if (match) this.#onUpdateReply(match[1], match[2] === "accepted", message);
    }
    return true;
  }

  #onNotifyNext(message: Record<string, unknown>): void {
    const execution = message.execution as Record<string, unknown> | undefined;
    const nextId = typeof execution?.jobId === "string" ? execution.jobId : undefined;
    if (this.#state === "idle" || this.#state === "starting") {
      // A job is waiting: ask now. A start-next still unanswered (backed off, or lost) is given up
      // for a fresh one, whose answer carries the job.
      if (nextId !== undefined && (!this.#outstanding || this.#outstanding.kind === "start-next")) {
        this.#outstanding = undefined;
        this.#unanswered = 0;
        this.#startNext();
      }
    } else if (this.#state === "running" && nextId !== this.#jobId) {
      // The running job is no longer the thing's next pending execution: cancelled or deleted.
      this.#gone(nextId === undefined ? "no pending job any more (cancelled?)" : `the next job is now ${nextId} (cancelled?)`);
    }
  }

  #onStartAccepted(message: Record<string, unknown>): void {
    if (!this.#matches("start-next", message)) return;
    this.#outstanding = undefined;
    const execution = message.execution;
    if (typeof execution !== "object" || execution === null) {
      this.#state = "idle";
      return;
    }
    const e = execution as Record<string, unknown>;
    if (typeof e.jobId !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(e.jobId)) {
      this.#log("jobs: start-next accepted without a usable jobId");
      this.#state = "idle";
      return;
    }
    const details: Record<string, string> = {};
    if (typeof e.statusDetails === "object" && e.statusDetails !== null)
      for (const [k, v] of Object.entries(e.statusDetails as Record<string, unknown>)) if (typeof v === "string") details[k] = v;
    const job: JobExecution = {
      jobId: e.jobId,
      document: e.jobDocument,
      status: typeof e.status === "string" ? e.status : "IN_PROGRESS",
      statusDetails: details,
      versionNumber: typeof e.versionNumber === "number" ? e.versionNumber : undefined,
      executionNumber: typeof e.executionNumber === "number" ? e.executionNumber : undefined,
    };
    this.#jobId = job.jobId;
    this.#state = "running";
    this.#queued = undefined;
    let reason: string | undefined;
    try {
      reason = this.#options.events.onJob(job);
    } catch (error) {
      reason = `device error: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (reason !== undefined && this.#state === "running" && this.#jobId === job.jobId) this.report("REJECTED", { reason });
  }

  #onStartRejected(message: Record<string, unknown>): void {
    if (!this.#matches("start-next", message)) return;
    this.#outstanding = undefined;
    this.#state = "idle";
    this.#startAt = this.#options.now() + this.#timeout;
    this.#log(`jobs: start-next rejected (${String(message.code)}: ${String(message.message)}); asking again later`);
  }

  #onUpdateReply(jobId: string, accepted: boolean, message: Record<string, unknown>): void {
    if (jobId !== this.#jobId || !this.#matches("update", message)) return;
    const sent = this.#outstanding!.report!;
    this.#outstanding = undefined;
    if (accepted) {
      if (TERMINAL.has(sent.status)) this.#finished();
      else this.#flush();
      return;
    }
    const code = String(message.code);
    if (code === "RequestThrottled" || code === "InternalError") {
      // try the same report again after the timeout, unless a newer one is waiting
      this.#queued ??= sent;
      this.#outstanding = { kind: "update", token: "", sentAt: this.#options.now(), report: this.#queued };
      this.#queued = undefined;
      return;
    }
    if (code === "VersionMismatch" || code === "InvalidRequest" || code === "InvalidJson") {
      this.#log(`jobs: ${sent.status} for ${jobId} rejected (${code}: ${String(message.message)})`);
      if (TERMINAL.has(sent.status)) this.#finished();
      else this.#flush();
      return;
    }
    // InvalidStateTransition, ResourceNotFound, TerminalStateReached: the execution is over in the cloud.
    this.#gone(`${code}: ${String(message.message)}`);
  }

  #gone(reason: string): void {
    const jobId = this.#jobId!;
    const wasFinishing = this.#state === "finishing";
    this.#finished();
    this.#log(`jobs: ${jobId} ended in the cloud: ${reason}`);
    if (!wasFinishing) this.#options.events.onJobGone(jobId, reason);
  }

  #finished(): void {
    this.#jobId = undefined;
    this.#queued = undefined;
    this.#outstanding = undefined;
    this.#state = "idle";
    this.#startNext();
  }

  #matches(kind: Outstanding["kind"], message: Record<string, unknown>): boolean {
    const o = this.#outstanding;
    const matches = o !== undefined && o.kind === kind && message.clientToken === o.token;
    if (matches) this.#unanswered = 0;
    return matches;
  }

  #token(): string {
    this.#tokens = (this.#tokens + 1) % 1_000_000;
    return `${this.#thing.slice(0, 40)}-${this.#options.now().toString(36)}-${this.#tokens}`;
  }

  #startNext(): void {
    this.#startAt = -1;
    this.#state = this.#jobId === undefined ? "starting" : this.#state;
    if (!this.#online || this.#outstanding) return;
    const token = this.#token();
    this.#outstanding = { kind: "start-next", token, sentAt: this.#options.now() };
    if (!this.#options.publish(`${this.#prefix}start-next`, JSON.stringify({ clientToken: token }))) this.#outstanding = undefined;
  }

  #flush(): void {
    if (!this.#online || this.#outstanding || !this.#queued || this.#jobId === undefined) return;
    const report = this.#queued;
    const token = this.#token();
    this.#outstanding = { kind: "update", token, sentAt: this.#options.now(), report };
    this.#queued = undefined;
    const payload = JSON.stringify({ status: report.status, statusDetails: report.details, clientToken: token });
    if (!this.#options.publish(`${this.#prefix}${this.#jobId}/update`, payload)) {
      this.#outstanding = undefined;
      this.#queued ??= report;
    }
  }

  #log(line: string): void {
    this.#options.events.onLog?.(line);
  }
}
