// The host target's firmware clock: every Timer callback runs at its own deadline, in deadline order,
// so what the firmware (and the simulated chips that share this clock) sees does not depend on how
// late Node's event loop got round to it. A stalled loop makes timers late in wall time, never
// skipped or reordered: they catch up in order. Tests may take the clock off the wall (manual) and
// advance it themselves.

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
  #wake: ReturnType<typeof setTimeout> | undefined;

  #wall(): number {
    return this.#manual ?? Date.now();
  }

  /** Milliseconds since the epoch, as the firmware's timers and the simulated chips see them. */
  now(): number {
    let value: number;
    if (this.#current) value = this.#current.deadline + (this.#wall() - this.#current.wallStart);
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

  /** Back to wall time (after a test that used manual time). Pending timers are dropped. */
  wall(): void {
    this.#manual = undefined;
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

  /** One Node timer for the earliest deadline (wall time only). */
  #rearm(): void {
    if (this.#running) return;
    if (this.#wake) clearTimeout(this.#wake);
    this.#wake = undefined;
    const next = this.#entries[0];
    if (!next || this.#manual !== undefined) return;
    this.#wake = setTimeout(() => this.#catchUp(), Math.max(0, next.timer.deadline - Date.now()));
  }

  #catchUp(): void {
    this.#wake = undefined;
    const run = ++this.#run;
    this.#running = true;
    try {
      for (;;) {
        const next = this.#entries[0];
        if (!next || next.timer.deadline > Date.now() || next.run === run) break;
        this.#fire(next);
      }
    } finally {
      this.#running = false;
      this.#rearm();
    }
  }
}

/** The one clock of the host target (imported by the timer module and by whoever drives the simulated chips). */
export const firmwareClock = new FirmwareClock();
