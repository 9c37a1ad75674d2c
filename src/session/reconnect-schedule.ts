// When to try the broker again. Exponential backoff with full jitter (AWS backoffAlgorithm):
// delay = uniform(0, min(cap, base * 2^attempt)). The attempt count resets only after a connection
// stayed up for resetAfterMs, connect attempts are at least minIntervalMs apart (AWS allows one
// CONNECT per second per client id), the first connect after power-up waits a random time so a plant
// that regains power does not connect all at once, and a connection that the broker keeps closing
// right after CONNACK (another client with the same id) backs off long instead of fighting.
// Pure: the caller supplies time and randomness.

export interface ReconnectOptions {
  baseMs: number;
  capMs: number;
  resetAfterMs: number;
  minIntervalMs: number;
  /** The first connect after power-up waits uniform(0, this). */
  startupJitterMs: number;
  /** A connection closed this soon after CONNACK counts as a quick drop. */
  quickDropMs: number;
  /** This many quick drops in a row look like a duplicate client id. */
  quickDropsForKick: number;
  /** How long to stay away then (plus jitter of the same size). */
  kickBackoffMs: number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = {
  baseMs: 1000,
  capMs: 300_000,
  resetAfterMs: 60_000,
  minIntervalMs: 1000,
  startupJitterMs: 5000,
  quickDropMs: 5000,
  quickDropsForKick: 3,
  kickBackoffMs: 600_000,
};

export interface NextAttempt {
  delayMs: number;
  /** Why this delay: "backoff", "kicked" (duplicate client id suspected) or "startup". */
  because: "backoff" | "kicked" | "startup";
}

export class ReconnectSchedule {
  readonly options: ReconnectOptions;
  #random: () => number;
  #attempt = 0;
  #lastAttemptAt = -Infinity;
  #connectedAt: number | undefined;
  #quickDrops = 0;

  constructor(options: Partial<ReconnectOptions> = {}, random: () => number = Math.random) {
    this.options = { ...DEFAULT_RECONNECT, ...options };
    const o = this.options;
    if (!(o.baseMs > 0) || !(o.capMs >= o.baseMs)) throw new RangeError("reconnect backoff needs 0 < base <= cap");
    this.#random = random;
  }

  /** Consecutive failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  get suspectedDuplicateClientId(): boolean {
    return this.#quickDrops >= this.options.quickDropsForKick;
  }

  atPowerUp(): NextAttempt {
    return { delayMs: Math.floor(this.#random() * this.options.startupJitterMs), because: "startup" };
  }

  /** A connect attempt (TCP/TLS open) starts now. */
  attempting(nowMs: number): void {
    this.#lastAttemptAt = nowMs;
  }

  /** CONNACK accepted. */
  connected(nowMs: number): void {
    this.#connectedAt = nowMs;
  }

  /** The connection (or the attempt) ended: how long to wait before the next attempt. */
  closed(nowMs: number): NextAttempt {
    const o = this.options;
    const upFor = this.#connectedAt === undefined ? undefined : nowMs - this.#connectedAt;
    this.#connectedAt = undefined;
    if (upFor !== undefined && upFor >= o.resetAfterMs) this.#attempt = 0;
    if (upFor !== undefined) this.#quickDrops = upFor < o.quickDropMs ? this.#quickDrops + 1 : 0;

    let delay: number;
    let because: NextAttempt["because"];
    if (this.suspectedDuplicateClientId) {
      delay = o.kickBackoffMs + Math.floor(this.#random() * o.kickBackoffMs);
      because = "kicked";
    } else {
      const ceiling = Math.min(o.capMs, o.baseMs * 2 ** Math.min(this.#attempt, 52));
      delay = Math.floor(this.#random() * ceiling);
      because = "backoff";
    }
    this.#attempt++;
    const earliest = this.#lastAttemptAt + o.minIntervalMs - nowMs;
    return { delayMs: Math.max(delay, earliest, 0), because };
  }
}

/** The fixed-period retry most ESP32 stacks use, for comparison in benchmarks. */
export class FixedPeriodSchedule {
  constructor(readonly periodMs: number) {}
  atPowerUp(): NextAttempt {
    return { delayMs: 0, because: "startup" };
  }
  attempting(_nowMs: number): void {}
  connected(_nowMs: number): void {}
  closed(_nowMs: number): NextAttempt {
    return { delayMs: this.periodMs, because: "backoff" };
  }
}
