// The host target's firmware clock: every Timer callback runs at its own deadline, in deadline order,
// so what the firmware (and the simulated chips that share this clock) sees does not depend on how
// late Node's event loop got round to it. A stalled loop makes timers late in wall time, never
// skipped or reordered: they catch up in order. Tests may take the clock off the wall (manual) and
// advance it themselves. A soak (docs/soak.md) accelerates it: time jumps to the next timer whenever
// the network is idle, runs at wall speed while a network exchange is under way (the firmware's
// timeouts then measure real round trips), and never jumps past a limit the fleet driver sets.

export interface ScheduledTimer {
  deadline: number;
  /** Repeat period in ms, or undefined for a one-shot. */
  repeat: number | undefined;
  fire(): void;
}

interface Entry {
  timer: ScheduledTimer;
  /** Tie-break: timers due at the same time fire in the order they were armed. */
  order: number;
  /** The catch-up run that armed it: a timer armed during a run waits for the next one, so I/O can happen in between. */
  run: number;
}

/** What an accelerated clock needs to know (docs/soak.md). */
export interface AccelerationOptions {
  /** Firmware time to start at (ms since the epoch). */
  startMs: number;
  /** True while nothing on the network awaits a reply: only then may time jump. */
  idle(): boolean;
  /** Time does not jump past this (ms); setLimit() moves it. Unlimited without it. */
  limitMs?: number;
  /** Called once per limit, when time stands at it, no timer is due before it and the network is idle. */
  onLimit?(nowMs: number): void;
}

/** Real time, fractional ms: the wall an accelerated clock is offset from (Date.now may be the firmware's). */
const realNow = () => performance.timeOrigin + performance.now();
/** An accelerated clock yields to I/O at least this often (real ms), and polls a busy network this often. */
const SLICE_MS = 10;
/** Accelerated, firmware time inside one callback runs at wall speed this long (a driver's spin of a few ms sees it pass)... */
const CALLBACK_MS = 10;
/**
 * ...and after that at 1/CREEP of it: a stalled callback cannot carry the clock past the next
 * deadlines, yet a spin that started late in a long callback (the SHT3x's 1 ms after BREAK, in a
 * boot that took longer than CALLBACK_MS) still ends. Frozen instead, such a spin never returned.
 */
const CREEP = 100;
const BUSY_POLL_MS = 2;

interface Acceleration extends AccelerationOptions {
  /** Firmware time minus real time: grows by every jump. */
  skew: number;
  limitMs: number;
  /** The limit already reported through onLimit. */
  reported: number;
}

export class FirmwareClock {
  #entries: Entry[] = [];
  #order = 0;
  #run = 0;
  #running = false;
  /** The latest time handed out: the clock never goes back. */
  #last = -Infinity;
  /** Inside a callback: its deadline and the wall time it started, so time still passes while it runs (spins). */
  #current: { deadline: number; wallStart: number } | undefined;
  #manual: number | undefined;
  #wake: (() => void) | undefined;
  #accelerated: Acceleration | undefined;

  #wall(): number {
    if (this.#manual !== undefined) return this.#manual;
    return this.#accelerated ? realNow() + this.#accelerated.skew : Date.now();
  }

  /** Milliseconds since the epoch, as the firmware's timers and the simulated chips see them. */
  now(): number {
    let value: number;
    if (this.#current) {
      // Accelerated, a callback's own time is capped: a process descheduled in the middle of one
      // (a loaded host) would otherwise carry the clock past the deadlines of the timers that catch
      // up next, and every one of them would see the same time (three samples with one timestamp).
      const inside = this.#wall() - this.#current.wallStart;
      value = this.#current.deadline + (this.#accelerated && inside > CALLBACK_MS ? CALLBACK_MS + (inside - CALLBACK_MS) / CREEP : inside);
    }
    else {
      // Between callbacks, time cannot run past a timer that is due but has not fired yet.
      value = this.#wall();
      const next = this.#entries[0];
      if (next && next.timer.deadline < value) value = next.timer.deadline;
    }
    if (value > this.#last) this.#last = value;
    return this.#last;
  }

  /** Arms timer to fire after interval ms from now. */
  arm(timer: ScheduledTimer, interval: number): void {
    this.disarm(timer);
    timer.deadline = this.now() + Math.max(0, interval);
    this.#insert({ timer, order: this.#order++, run: this.#run });
    this.#rearm();
  }

  disarm(timer: ScheduledTimer): void {
    const index = this.#entries.findIndex((e) => e.timer === timer);
    if (index < 0) return;
    this.#entries.splice(index, 1);
    this.#rearm();
  }

  isArmed(timer: ScheduledTimer): boolean {
    return this.#entries.some((e) => e.timer === timer);
  }

  /** Takes the clock off the wall: time moves only through advance(). */
  manual(startMs = this.now()): void {
    this.#manual = startMs;
    this.#last = startMs;
    this.#rearm();
  }

  /**
   * Accelerated time (docs/soak.md): the clock starts at startMs and runs at wall speed, except that
   * whenever options.idle() says the network awaits nothing it jumps to the next timer's deadline
   * (never past the limit). Timers still fire at their deadlines, in order.
   */
  accelerate(options: AccelerationOptions): void {
    this.#manual = undefined;
    this.#accelerated = { ...options, skew: options.startMs - realNow(), limitMs: options.limitMs ?? Infinity, reported: -Infinity };
    this.#last = options.startMs;
    this.#rearm();
  }

  /** Accelerated time: lets the clock jump up to limitMs. */
  setLimit(limitMs: number): void {
    if (!this.#accelerated) throw new Error("setLimit() needs accelerated time");
    this.#accelerated.limitMs = limitMs;
    this.#rearm();
  }

  get isAccelerated(): boolean {
    return this.#accelerated !== undefined;
  }

  /** Back to wall time (after a test that used manual or accelerated time). Pending timers are dropped. */
  wall(): void {
    this.#manual = undefined;
    this.#accelerated = undefined;
    this.#entries = [];
    this.#last = -Infinity;
    this.#rearm();
  }

  get isManual(): boolean {
    return this.#manual !== undefined;
  }

  /** Manual time: moves the clock by ms, firing every timer that falls due, in order. */
  advance(ms: number): void {
    if (this.#manual === undefined) throw new Error("advance() needs manual time");
    const target = this.#manual + ms;
    for (;;) {
      const next = this.#entries[0];
      if (!next || next.timer.deadline > target) break;
      this.#manual = Math.max(this.#manual, next.timer.deadline);
      this.#fire(next);
    }
    this.#manual = target;
  }

  /** Timers armed (for tests: nothing left running). */
  get pending(): number {
    return this.#entries.length;
  }

  #insert(entry: Entry): void {
    const key = (e: Entry) => e.timer.deadline;
    let i = this.#entries.length;
    while (i > 0 && (key(this.#entries[i - 1]) > key(entry) || (key(this.#entries[i - 1]) === key(entry) && this.#entries[i - 1].order > entry.order))) i--;
    this.#entries.splice(i, 0, entry);
  }

  #fire(entry: Entry): void {
    this.#entries.splice(this.#entries.indexOf(entry), 1);
    const { timer } = entry;
    const deadline = timer.deadline;
    if (timer.repeat !== undefined && timer.repeat > 0) {
      timer.deadline = deadline + timer.repeat;
      // A repeat keeps its run stamp, so a stalled repeating timer catches up within one run.
      this.#insert({ timer, order: this.#order++, run: entry.run });
    }
    const outer = this.#current;
    this.#current = { deadline, wallStart: this.#wall() };
    try {
      timer.fire();
    } finally {
      this.#current = outer;
    }
  }

  /** One Node timer for the earliest deadline (wall and accelerated time). */
  #rearm(): void {
    if (this.#running) return;
    this.#wake?.();
    this.#wake = undefined;
    if (this.#manual !== undefined) return;
    if (this.#accelerated) return this.#rearmAccelerated(this.#accelerated);
    const next = this.#entries[0];
    if (!next) return;
    const wake = setTimeout(() => this.#catchUp(), Math.max(0, next.timer.deadline - Date.now()));
    this.#wake = () => clearTimeout(wake);
  }

  #rearmAccelerated(a: Acceleration): void {
    const next = this.#entries[0];
    const now = this.#wall();
    if ((next && next.timer.deadline <= now) || (next && next.timer.deadline <= a.limitMs && a.idle())) {
      // Due, or idle with a timer before the limit: go now (setImmediate: setTimeout(0) waits 1 ms).
      const wake = setImmediate(() => this.#catchUp());
      this.#wake = () => clearImmediate(wake);
      return;
    }
    if (a.idle()) {
      // Nothing to do before the limit: stand at it and say so, once.
      if (now < a.limitMs && Number.isFinite(a.limitMs)) a.skew += a.limitMs - now;
      if (a.reported !== a.limitMs && Number.isFinite(a.limitMs)) {
        const limit = (a.reported = a.limitMs);
        // On a later turn (not cancelled by a rearm), and only if time still stands at this limit.
        setImmediate(() => {
          if (this.#accelerated !== a || a.reported !== limit || a.limitMs !== limit) return;
          const due = this.#entries[0];
          if ((due && due.timer.deadline <= a.limitMs) || !a.idle()) {
            a.reported = -Infinity;
            this.#rearm();
          } else a.onLimit?.(this.now());
        });
      }
      return;
    }
    // The network is busy: wall speed, and look again soon (the reply may come any moment).
    const delay = next ? Math.min(BUSY_POLL_MS, Math.max(0, next.timer.deadline - now)) : BUSY_POLL_MS;
    const wake = setTimeout(() => this.#catchUp(), delay);
    this.#wake = () => clearTimeout(wake);
  }

  #catchUp(): void {
    this.#wake = undefined;
    const sliceStart = realNow();
    this.#running = true;
    try {
      for (;;) {
        const run = ++this.#run;
        for (;;) {
          const next = this.#entries[0];
          if (!next || next.timer.deadline > this.#wall() || next.run === run) break;
          this.#fire(next);
        }
        // Accelerated and idle: jump to the next deadline and go on, yielding to I/O every slice.
        const a = this.#accelerated;
        if (!a || realNow() - sliceStart > SLICE_MS) break;
        const next = this.#entries[0];
        if (!next) break;
        const now = this.#wall();
        if (next.timer.deadline > now) {
          if (next.timer.deadline > a.limitMs || !a.idle()) break;
          a.skew += next.timer.deadline - now;
        }
      }
    } finally {
      this.#running = false;
      this.#rearm();
    }
  }
}

/** The one clock of the host target (imported by the timer module and by whoever drives the simulated chips). */
export const firmwareClock = new FirmwareClock();
