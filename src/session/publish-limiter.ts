// AWS IoT Core's per-connection limits as a sliding one-second window: at most 100 publishes and
// 512 KiB (excess publishes are dropped by AWS, excess bytes delayed). Every PUBLISH on the
// connection goes through one limiter. Pure: the caller supplies time.

export interface PublishLimits {
  messagesPerWindow: number;
  bytesPerWindow: number;
  windowMs: number;
}

export const AWS_PUBLISH_LIMITS: PublishLimits = { messagesPerWindow: 100, bytesPerWindow: 512 * 1024, windowMs: 1000 };

export class PublishLimiter {
  readonly limits: PublishLimits;
  #times: number[] = [];
  #sizes: number[] = [];
  #bytes = 0;

  constructor(limits: PublishLimits = AWS_PUBLISH_LIMITS) {
    if (!(limits.messagesPerWindow >= 1 && limits.bytesPerWindow >= 1 && limits.windowMs > 0)) throw new RangeError("invalid publish limits");
    this.limits = limits;
  }

  /** Milliseconds to wait before a publish of this many bytes fits the window (0: now). */
  delayFor(bytes: number, nowMs: number): number {
    this.#expire(nowMs);
    const { messagesPerWindow, bytesPerWindow, windowMs } = this.limits;
    if (bytes > bytesPerWindow) throw new RangeError(`a ${bytes}-byte publish exceeds the ${bytesPerWindow}-byte window`);
    let wait = 0;
    if (this.#times.length >= messagesPerWindow) wait = this.#times[this.#times.length - messagesPerWindow] + windowMs - nowMs;
    let excess = this.#bytes + bytes - bytesPerWindow;
    for (let i = 0; excess > 0 && i < this.#times.length; i++) {
      excess -= this.#sizes[i];
      wait = Math.max(wait, this.#times[i] + windowMs - nowMs);
    }
    return Math.max(0, wait);
  }

  record(bytes: number, nowMs: number): void {
    this.#times.push(nowMs);
    this.#sizes.push(bytes);
    this.#bytes += bytes;
  }

  /** A new connection starts with an empty window. */
  reset(): void {
    this.#times = [];
    this.#sizes = [];
    this.#bytes = 0;
  }

  #expire(nowMs: number): void {
    let drop = 0;
    while (drop < this.#times.length && this.#times[drop] <= nowMs - this.limits.windowMs) {
      this.#bytes -= this.#sizes[drop];
      drop++;
    }
    if (drop > 0) {
      this.#times.splice(0, drop);
      this.#sizes.splice(0, drop);
    }
  }
}
