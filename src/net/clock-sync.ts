// Setting the clock when it was not set at boot. On ESP32 the SDK's network setup asks SNTP once
// before main runs and, if that fails, starts main with the clock in 1970: TLS cannot check
// certificate dates, so the node would never connect. This asks again with backoff until it works.
// Pure: the SNTP client, the clock and the timers are injected.

/** The SDK's SNTP callback messages (SNTP.time, SNTP.retry, SNTP.error). */
export const SNTP_TIME = 1;
export const SNTP_RETRY = 2;
export const SNTP_ERROR = -1;

export interface ClockSyncOptions {
  /** Before this (ms since the epoch) the clock counts as never set. */
  earliestValid: number;
  now(): number;
  /** Sets the clock, seconds since the epoch (Time.set). */
  setTime(seconds: number): void;
  /** Starts one SNTP exchange (new SNTP({host}, callback)); returns what closes it. */
  ask(host: string, callback: (message: number, value?: unknown) => void): { close(): void };
  hosts: readonly string[];
  /** Delay before attempt n (1, 2, ...) after n failures. */
  retryDelay(failures: number): number;
  timers: { set(callback: () => void, ms: number): unknown; clear(handle: unknown): void };
  report(line: string): void;
}

export class ClockSync {
  readonly #o: ClockSyncOptions;
  #failures = 0;
  #client: { close(): void } | undefined;
  #timer: unknown;
  #stopped = false;
  #onSet: (() => void) | undefined;

  constructor(options: ClockSyncOptions) {
    this.#o = options;
  }

  get valid(): boolean {
    return this.#o.now() >= this.#o.earliestValid;
  }

  /** Starts asking if the clock is not set; does nothing if it is. onSet: called once it is set. */
  start(onSet?: () => void): void {
    this.#onSet = onSet;
    if (this.valid || this.#stopped) return;
    this.#attempt();
  }

  stop(): void {
    this.#stopped = true;
    const client = this.#client;
    this.#finish();
    try {
      client?.close();
    } catch {
      // it had closed itself
    }
  }

  #attempt(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    const hosts = this.#o.hosts;
    const host = hosts[this.#failures % hosts.length];
    try {
      this.#client = this.#o.ask(host, (message, value) => this.#answer(host, message, value));
    } catch (error) {
      // Net.resolve's table full, no socket: the same backoff.
      this.#failed(host, error instanceof Error ? error.message : String(error));
    }
  }

  #answer(host: string, message: number, value: unknown): void {
    if (this.#stopped) return;
    if (message === SNTP_TIME && typeof value === "number" && value * 1000 >= this.#o.earliestValid) {
      this.#finish();
      this.#o.setTime(value);
      this.#o.report(`clock set from ${host} (SNTP) after ${this.#failures} failed attempts`);
      this.#onSet?.();
    } else if (message === SNTP_TIME) {
      this.#failed(host, `it answered ${String(value)}, before any valid time`);
    } else if (message === SNTP_ERROR) {
      this.#failed(host, typeof value === "string" ? value : "no answer");
    }
    // SNTP_RETRY: the client resends on its own; wait for its verdict.
  }

  #failed(host: string, why: string): void {
    this.#finish();
    this.#failures++;
    const delay = this.#o.retryDelay(this.#failures);
    this.#o.report(`clock: SNTP from ${host} failed (${why}); asking again in ${delay} ms`);
    this.#timer = this.#o.timers.set(() => this.#attempt(), delay);
  }

  /** The SDK's client closes itself after its answer or error (a second close would throw in its callback). */
  #finish(): void {
    this.#client = undefined;
    if (this.#timer !== undefined) this.#o.timers.clear(this.#timer);
    this.#timer = undefined;
  }
}

/** Full-jitter exponential backoff for SNTP: uniform in [base/2, min(cap, base * 2^(failures-1))]. */
export function sntpRetryDelay(failures: number, random: () => number, baseMs = 2000, capMs = 300_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  const floor = Math.min(ceiling, baseMs / 2);
  return Math.round(floor + random() * (ceiling - floor));
}
