// The broker's address for each connect: AWS IoT Core endpoints are host names, and the SDK's TCP
// socket takes only an IPv4 address. Pure (the platform's resolver and timers are injected), so it
// also runs on XS in the portable tests.
//
// A lookup that fails or does not answer in time fails the connect, which then backs off like any
// failed connect. While DNS is down the last address that worked for this host is used instead:
// TLS still checks the broker's certificate against the host name, so a stale address can only
// fail, never reach the wrong broker.

/** Net.resolve's shape: the callback gets the name and the address, or undefined when not found. */
export type ResolveFunction = (host: string, callback: (name: string, address: string | undefined) => void) => void;

export interface ResolverTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export type LookupResult =
  /** note: said when the address is not a fresh answer (DNS failed and the last good one is reused). */
  | { address: string; note?: string }
  | { error: string };

export interface BrokerResolverOptions {
  host: string;
  /** A fixed IPv4 address: no lookup at all. */
  fixedAddress?: string;
  timeoutMs: number;
  resolve: ResolveFunction;
  timers: ResolverTimers;
  /** The address that last worked for this host (from an earlier boot), if any. */
  lastGood?: string;
  /** Called when a lookup answers with an address other than the last good one (persist it). */
  onNewAddress?(address: string): void;
}

export function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 253 characters at most. */
export function isHostName(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const labels = (text.endsWith(".") ? text.slice(0, -1) : text).split(".");
  // The length apart from the pattern: XS's RegExp let {0,61} match a 64-character label.
  return labels.every((label) => label.length <= 63 && /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label));
}

function isLocalhost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}

export class BrokerResolver {
  readonly #o: BrokerResolverOptions;
  #lastGood: string | undefined;
  /** Bumped by every lookup: an answer for an older one (after its timeout) is ignored. */
  #generation = 0;
  #timer: unknown;

  constructor(options: BrokerResolverOptions) {
    this.#o = options;
    this.#lastGood = options.lastGood !== undefined && isIPv4(options.lastGood) ? options.lastGood : undefined;
  }

  /** The address that last worked, if any. */
  get lastGood(): string | undefined {
    return this.#lastGood;
  }

  /** Calls done exactly once: at once for a fixed or literal address, else when DNS answers or times out. */
  lookup(done: (result: LookupResult) => void): void {
    const { host, fixedAddress } = this.#o;
    if (fixedAddress !== undefined) return done({ address: fixedAddress });
    if (isIPv4(host)) return done({ address: host });
    // RFC 6761: localhost names are the loopback address. Asked, the SDK's Linux resolver answers
    // ::1 first and so reports no IPv4 address at all.
    if (isLocalhost(host)) return done({ address: "127.0.0.1" });
    const generation = ++this.#generation;
    let settled = false;
    const settle = (address: string | undefined, failure: string) => {
      if (settled || generation !== this.#generation) return;
      settled = true;
      this.#clearTimer();
      if (address !== undefined && isIPv4(address)) {
        if (address !== this.#lastGood) {
          this.#lastGood = address;
          this.#o.onNewAddress?.(address);
        }
        done({ address });
        return;
      }
      const error = address === undefined ? failure : `lookup of ${host} gave ${JSON.stringify(address)}, not an IPv4 address`;
      if (this.#lastGood !== undefined) done({ address: this.#lastGood, note: `${error}; using ${this.#lastGood}, which worked before` });
      else done({ error });
    };
    this.#timer = this.#o.timers.set(() => settle(undefined, `lookup of ${host} timed out after ${this.#o.timeoutMs} ms`), this.#o.timeoutMs);
    try {
      this.#o.resolve(host, (_name, address) => settle(address, `${host} not found`));
    } catch (error) {
      // lwIP refuses when its lookup table is full; the GLib resolver when it has none.
      settle(undefined, `lookup of ${host} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Forgets a pending lookup (stop): its answer, if it ever comes, is dropped. */
  cancel(): void {
    this.#generation++;
    this.#clearTimer();
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    this.#o.timers.clear(this.#timer);
    this.#timer = undefined;
  }
}
