// The job executions of a local stand-in for AWS IoT Jobs, pure: what the device-facing MQTT API
// (StartNextPendingJobExecution, UpdateJobExecution, DescribeJobExecution, GetPendingJobExecutions,
// NextJobExecutionChanged) does to them, as the
// AWS IoT developer guide describes it ("Jobs device MQTT API", "Jobs notifications", "Jobs and job
// execution states"). Each operation returns the messages to publish, topic suffixes relative to
// `$aws/things/<thing>/jobs/`; jobs-service.ts puts them on a broker. Timestamps are seconds since
// the epoch, as AWS sends them.

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED"]);
/** The statuses a device may set through UpdateJobExecution. */
const DEVICE_STATUSES: ReadonlySet<string> = new Set(["IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED"]);

export interface Execution {
  thing: string;
  jobId: string;
  document: unknown;
  status: string;
  statusDetails: Record<string, string>;
  /** Seconds. */
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  /** Incremented by every update a device makes. */
  versionNumber: number;
  executionNumber: number;
  /** Creation order: pending executions are taken in it. */
  order: number;
}

export interface Outgoing {
  /** After `$aws/things/<thing>/jobs/`. */
  suffix: string;
  body: Record<string, unknown>;
}

/** A state change a device request made and the service accepted. */
export interface Accepted {
  thing: string;
  jobId: string;
  status: string;
  statusDetails: Record<string, string>;
}

export type ErrorCode = "InvalidJson" | "InvalidRequest" | "InvalidStateTransition" | "ResourceNotFound" | "VersionMismatch" | "TerminalStateReached";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export const JOB_ID = /^[a-zA-Z0-9_-]{1,64}$/;
export const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const DETAIL_KEY = /^[a-zA-Z0-9:_-]{1,128}$/;
// AWS: value length 1..1024, pattern [^\p{C}]+ (no control, format or unassigned characters)
const DETAIL_VALUE = /^[^\p{C}]{1,1024}$/u;

/** statusDetails as AWS takes them, or the reason they are refused. */
function checkDetails(value: unknown): Record<string, string> | string {
  if (!isObject(value)) return "statusDetails must be an object of strings";
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!DETAIL_KEY.test(key)) return `statusDetails key ${JSON.stringify(key.slice(0, 40))} does not match [a-zA-Z0-9:_-]{1,128}`;
    if (typeof v !== "string" || !DETAIL_VALUE.test(v)) return `statusDetails.${key} must be a string of 1 to 1024 printable characters`;
    out[key] = v;
  }
  return out;
}

export class JobExecutions {
  readonly #byThing = new Map<string, Execution[]>();
  readonly #now: () => number;
  #created = 0;

  /** now: milliseconds since the epoch. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  get(thing: string, jobId: string): Execution | undefined {
    return this.#byThing.get(thing)?.find((e) => e.jobId === jobId);
  }

  /** DescribeJobExecution with `$next`: the oldest IN_PROGRESS execution, else the oldest QUEUED. */
  next(thing: string): Execution | undefined {
    const all = this.#byThing.get(thing) ?? [];
    return all.find((e) => e.status === "IN_PROGRESS") ?? all.find((e) => e.status === "QUEUED");
  }

  /** CreateJob for one thing: a QUEUED execution. */
  create(thing: string, jobId: string, document: unknown): Outgoing[] {
    if (!THING_NAME.test(thing)) throw new RangeError(`jobs: not a thing name: ${JSON.stringify(thing)}`);
    if (!JOB_ID.test(jobId)) throw new RangeError(`jobs: not a job id (1..64 of a-z A-Z 0-9 _ -): ${JSON.stringify(jobId)}`);
    if (this.get(thing, jobId)) throw new Error(`jobs: ${jobId} already exists for ${thing}`);
    return this.#changingNext(thing, () => {
      const at = this.#seconds();
      const list = this.#byThing.get(thing) ?? [];
      list.push({ thing, jobId, document, status: "QUEUED", statusDetails: {}, queuedAt: at, lastUpdatedAt: at, versionNumber: 1, executionNumber: 1, order: this.#created++ });
      this.#byThing.set(thing, list);
    });
  }

  /** CancelJob / CancelJobExecution: a pending execution becomes CANCELED (not a device update: the version stays). */
  cancel(thing: string, jobId: string): Outgoing[] {
    const execution = this.get(thing, jobId);
    if (!execution) throw new Error(`jobs: no execution of ${jobId} for ${thing}`);
    if (TERMINAL_STATUSES.has(execution.status)) return [];
    return this.#changingNext(thing, () => {
      execution.status = "CANCELED";
      execution.lastUpdatedAt = this.#seconds();
    });
  }

  /** `$aws/things/<thing>/jobs/start-next`. */
  startNext(thing: string, payload: string): { out: Outgoing[]; accepted?: Accepted } {
    const request = this.#parse(payload);
    if ("error" in request) return { out: [this.#rejected("start-next", request.error, request.message)] };
    const token = request.token;
    let details: Record<string, string> | undefined;
    if (request.body.statusDetails !== undefined) {
      const checked = checkDetails(request.body.statusDetails);
      if (typeof checked === "string") return { out: [this.#rejected("start-next", "InvalidRequest", checked, token)] };
      details = checked;
    }
    const execution = this.next(thing);
    if (!execution) return { out: [{ suffix: "start-next/accepted", body: { ...token, timestamp: this.#seconds() } }] };
    let accepted: Accepted | undefined;
    const out = this.#changingNext(thing, () => {
      if (execution.status !== "QUEUED") return; // already IN_PROGRESS: returned unchanged
      const at = this.#seconds();
      execution.status = "IN_PROGRESS";
      execution.startedAt = at;
      execution.lastUpdatedAt = at;
      if (details) execution.statusDetails = details;
      execution.versionNumber++;
      accepted = { thing, jobId: execution.jobId, status: execution.status, statusDetails: { ...execution.statusDetails } };
    });
    return { out: [{ suffix: "start-next/accepted", body: { ...token, timestamp: this.#seconds(), execution: this.#describe(execution) } }, ...out], accepted };
  }

  /** `$aws/things/<thing>/jobs/<jobId>/update`. */
  update(thing: string, jobId: string, payload: string): { out: Outgoing[]; accepted?: Accepted } {
    const stub = `${jobId}/update`;
    const request = this.#parse(payload);
    if ("error" in request) return { out: [this.#rejected(stub, request.error, request.message)] };
    const { body, token } = request;
    const execution = this.get(thing, jobId);
    if (!execution) return { out: [this.#rejected(stub, "ResourceNotFound", `Job execution ${jobId} for thing ${thing} not found`, token)] };
    if (typeof body.status !== "string" || !DEVICE_STATUSES.has(body.status))
      return { out: [this.#rejected(stub, "InvalidRequest", "status must be one of IN_PROGRESS, SUCCEEDED, FAILED, REJECTED", token)] };
    let details: Record<string, string> | undefined;
    if (body.statusDetails !== undefined) {
      const checked = checkDetails(body.statusDetails);
      if (typeof checked === "string") return { out: [this.#rejected(stub, "InvalidRequest", checked, token)] };
      details = checked;
    }
    if (body.expectedVersion !== undefined && !Number.isInteger(Number(body.expectedVersion)))
      return { out: [this.#rejected(stub, "InvalidRequest", "expectedVersion must be a number", token)] };
    // A terminal execution cannot change, whatever version the request names.
    if (TERMINAL_STATUSES.has(execution.status))
      return { out: [this.#rejected(stub, "InvalidStateTransition", `Job execution ${jobId} is ${execution.status}: it cannot become ${body.status}`, token, execution)] };
    if (body.expectedVersion !== undefined && Number(body.expectedVersion) !== execution.versionNumber)
      return { out: [this.#rejected(stub, "VersionMismatch", `expected version ${String(body.expectedVersion)}, the execution is at ${execution.versionNumber}`, token, execution)] };
    const status = body.status;
    const out = this.#changingNext(thing, () => {
      const at = this.#seconds();
      if (execution.status === "QUEUED") execution.startedAt = at;
      execution.status = status;
      if (details) execution.statusDetails = details;
      execution.lastUpdatedAt = at;
      execution.versionNumber++;
    });
    const reply: Record<string, unknown> = { ...token, timestamp: this.#seconds() };
    if (body.includeJobExecutionState === true) reply.executionState = this.#state(execution);
    if (body.includeJobDocument === true) reply.jobDocument = execution.document;
    return { out: [{ suffix: `${stub}/accepted`, body: reply }, ...out], accepted: { thing, jobId, status, statusDetails: { ...execution.statusDetails } } };
  }

  /** `$aws/things/<thing>/jobs/get` (GetPendingJobExecutions): IN_PROGRESS and QUEUED executions, oldest first. */
  getPending(thing: string, payload: string): Outgoing[] {
    const request = this.#parse(payload);
    if ("error" in request) return [this.#rejected("get", request.error, request.message)];
    const all = this.#byThing.get(thing) ?? [];
    const summaries = (status: string) => all.filter((e) => e.status === status).map((e) => this.#summary(e));
    return [{ suffix: "get/accepted", body: { inProgressJobs: summaries("IN_PROGRESS"), queuedJobs: summaries("QUEUED"), timestamp: this.#seconds(), ...request.token } }];
  }

  /** `$aws/things/<thing>/jobs/<jobId>/get` (DescribeJobExecution); jobId `$next` is the next pending execution. */
  describe(thing: string, jobId: string, payload: string): Outgoing[] {
    const stub = `${jobId}/get`;
    const request = this.#parse(payload);
    if ("error" in request) return [this.#rejected(stub, request.error, request.message)];
    const { body, token } = request;
    const execution = jobId === "$next" ? this.next(thing) : this.get(thing, jobId);
    if (!execution) {
      // Nothing pending: the answer has no execution field, as for start-next.
      if (jobId === "$next") return [{ suffix: `${stub}/accepted`, body: { timestamp: this.#seconds(), ...token } }];
      return [this.#rejected(stub, "ResourceNotFound", `Job execution ${jobId} for thing ${thing} not found`, token)];
    }
    if (TERMINAL_STATUSES.has(execution.status)) return [this.#rejected(stub, "TerminalStateReached", `Job execution ${jobId} is ${execution.status}`, token)];
    const described = this.#describe(execution);
    // The job document comes unless includeJobDocument is false.
    if (body.includeJobDocument === false) delete described.jobDocument;
    return [{ suffix: `${stub}/accepted`, body: { execution: described, timestamp: this.#seconds(), ...token } }];
  }

  /** Runs a change and adds notify-next when it changed which execution is next (NextJobExecutionChanged). */
  #changingNext(thing: string, change: () => void): Outgoing[] {
    const before = this.next(thing);
    change();
    const after = this.next(thing);
    if (before === after) return [];
    // No pending execution left: the message has no execution field.
    return [{ suffix: "notify-next", body: { timestamp: this.#seconds(), ...(after && { execution: this.#describe(after) }) } }];
  }

  #parse(payload: string): { body: Record<string, unknown>; token: { clientToken?: string } } | { error: ErrorCode; message: string } {
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      return { error: "InvalidJson", message: "The request is not valid JSON" };
    }
    if (!isObject(body)) return { error: "InvalidRequest", message: "The request must be a JSON object" };
    const token = body.clientToken;
    if (token !== undefined && (typeof token !== "string" || token.length < 1 || token.length > 64)) return { error: "InvalidRequest", message: "clientToken must be a string of 1 to 64 characters" };
    return { body, token: token === undefined ? {} : { clientToken: token } };
  }

  #rejected(stub: string, code: ErrorCode, message: string, token: { clientToken?: string } = {}, execution?: Execution): Outgoing {
    // executionState only with InvalidStateTransition and VersionMismatch (ErrorResponse)
    return { suffix: `${stub}/rejected`, body: { code, message, ...token, timestamp: this.#seconds(), ...(execution && { executionState: this.#state(execution) }) } };
  }

  /** JobExecutionState. */
  #state(e: Execution): Record<string, unknown> {
    return { status: e.status, statusDetails: { ...e.statusDetails }, versionNumber: e.versionNumber };
  }

  /** JobExecutionSummary. */
  #summary(e: Execution): Record<string, unknown> {
    return { jobId: e.jobId, queuedAt: e.queuedAt, ...(e.startedAt !== undefined && { startedAt: e.startedAt }), lastUpdatedAt: e.lastUpdatedAt, versionNumber: e.versionNumber, executionNumber: e.executionNumber };
  }

  /** JobExecution, with the job document. */
  #describe(e: Execution): Record<string, unknown> {
    return {
      jobId: e.jobId,
      thingName: e.thing,
      status: e.status,
      statusDetails: { ...e.statusDetails },
      queuedAt: e.queuedAt,
      ...(e.startedAt !== undefined && { startedAt: e.startedAt }),
      lastUpdatedAt: e.lastUpdatedAt,
      versionNumber: e.versionNumber,
      executionNumber: e.executionNumber,
      jobDocument: e.document,
    };
  }
}
