// Time on a device whose clock may not be set: a monotonic clock since boot that survives the
// platform tick counter wrapping, and the mapping from (boot, ms since boot) to UTC once SNTP has
// answered. Pure: runs on XS unchanged. docs/payload.md says what "estimated" means.

import type { BootTime, RecordTime } from "../telemetry/reading";

/** The platform's millisecond counter wraps here (Time.ticks on ESP32 is a 32-bit count). */
export const TICKS_WRAP = 2 ** 32;

/**
 * Milliseconds since boot from a counter that wraps at TICKS_WRAP: each reading adds the distance
 * from the previous one, modulo the wrap. It must be read more often than once per wrap (49.7 days);
 * the sampler reads it every sample.
 */
export class MonotonicClock {
  readonly #ticks: () => number;
  #last: number;
  #elapsed = 0;

  constructor(ticks: () => number) {
    this.#ticks = ticks;
    this.#last = ticks();
  }

  now(): number {
    const t = this.#ticks();
    let step = t - this.#last;
    if (step < 0) step += TICKS_WRAP;
    this.#last = t;
    this.#elapsed += step;
    return this.#elapsed;
  }
}

export interface ResolvedTime {
  ts: number;
  estimated: boolean;
}

/** Boots remembered: enough for a run of restarts without a clock, small enough for one preference. */
const KEPT_BOOTS = 8;

/**
 * For each recent boot, how its monotonic ms map to UTC: exactly (the clock was set during it: utc =
 * offset + ms) or, for a boot that ended without a clock, as if it ended 1 ms before the next boot
 * began (its last record's ms known): an upper bound that keeps the order, marked estimated.
 *
 * Persisted as text, "boot=offset" or "boot~lastMs" entries separated by spaces, written once when
 * the clock is set and once at boot for an unsynced previous boot.
 */
export class TimeBase {
  readonly boot: number;
  /** boot -> exact offset, or -(lastMs + 1) relative to the next boot's start when tagged estimated. */
  readonly #exact = new Map<number, number>();
  readonly #endedAt = new Map<number, number>();

  constructor(boot: number, persisted?: string) {
    this.boot = boot;
    for (const entry of (persisted ?? "").split(" ")) {
      const m = /^(\d+)([=~])(-?\d+)$/.exec(entry);
      if (!m) continue;
      const b = Number(m[1]);
      if (b >= boot) continue; // from a later numbering (a reformatted log): meaningless now
      if (m[2] === "=") this.#exact.set(b, Number(m[3]));
      else if (Number(m[3]) >= 0) this.#endedAt.set(b, Number(m[3]));
    }
  }

  get synced(): boolean {
    return this.#exact.has(this.boot);
  }

  /** The clock was set: utc now at monotonic `ms`. Returns the text to persist. */
  set(utc: number, ms: number): string {
    this.#exact.set(this.boot, Math.round(utc - ms));
    return this.persisted();
  }

  /** A boot before this one stored records without a clock; its last one was at `lastMs`. */
  previousBootEnded(boot: number, lastMs: number): string {
    if (boot < this.boot && !this.#exact.has(boot)) this.#endedAt.set(boot, Math.max(lastMs, this.#endedAt.get(boot) ?? 0));
    return this.persisted();
  }

  /** How a sample taken now is dated: UTC once the clock is set, else this boot's ms. */
  stamp(ms: number): RecordTime {
    const offset = this.#exact.get(this.boot);
    return offset === undefined ? { boot: this.boot, ms } : offset + ms;
  }

  /** UTC for a boot-relative time; undefined while this boot's clock is not set. */
  resolve(t: BootTime): ResolvedTime | undefined {
    const exact = this.#exact.get(t.boot);
    if (exact !== undefined) return { ts: exact + t.ms, estimated: false };
    // Walk forward to the first boot with an exact offset; each unsynced boot in between ended
    // (at most) just before the next began.
    let start = this.#startOf(t.boot + 1);
    if (start === undefined) return undefined;
    const lastMs = this.#endedAt.get(t.boot);
    // Without its last ms, the boot is taken to end at this record.
    const end = lastMs !== undefined && lastMs >= t.ms ? lastMs : t.ms;
    start = start - 1 - end;
    return { ts: start + t.ms, estimated: true };
  }

  /** UTC when a boot started: exact, or estimated through the boots after it; undefined if none is known. */
  #startOf(boot: number): number | undefined {
    // Boots are numbered one after another; a record from long ago need not walk every boot since.
    if (this.boot - boot > 10_000) boot = this.boot - 10_000;
    for (let b = boot, shift = 0; b <= this.boot; b++) {
      const exact = this.#exact.get(b);
      if (exact !== undefined) return exact - shift;
      // Boot b (unsynced) lasted at least until its last record.
      shift += 1 + (this.#endedAt.get(b) ?? 0);
    }
    return undefined;
  }

  persisted(): string {
    const boots = [...new Set([...this.#exact.keys(), ...this.#endedAt.keys()])].sort((a, b) => b - a).slice(0, KEPT_BOOTS);
    return boots.map((b) => (this.#exact.has(b) ? `${b}=${this.#exact.get(b)}` : `${b}~${this.#endedAt.get(b)}`)).join(" ");
  }
}
