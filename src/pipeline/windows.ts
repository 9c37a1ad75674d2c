// Per-channel report windows: every sample goes into its channel's window; when the window's
// interval is over it becomes one report (value, optional extremes, quality), which is sent unless
// the deadband says nothing changed and the channel has not been silent too long. Pure: runs on XS.
//
// Quality: bad samples never enter a statistic. A window with some bad or uncertain samples is
// uncertain, with the count of samples that entered; with none, bad with the last reason.

import { CHANNELS, type ChannelSample } from "../telemetry/reading";
import type { ChannelReporting, PipelineConfig } from "./channel-config";

// Every window's numbers live in one Float64Array, FIELDS per window, not in an object per channel
// nor in a typed array per field: on an ESP32 board's 4,928 XS slots an object of fifteen fields per
// channel adds up, and so does each typed array (about eight slots apiece; npm run bench -- memory),
// while the numbers themselves are chunk memory.
const AGGREGATES = ["mean", "rms", "max"] as const;
/** Offsets of a window's fields. The window under way: */
const SAMPLES = 0;
const COUNT = 1;
const NOT_GOOD = 2;
const SUM = 3;
const MIN = 4;
const MAX_SEEN = 5;
/** 1 when a sample kept its value but was uncertain. */
const UNCERTAIN = 6;
/** The last report sent: what the deadband compares against (NaN: no value; sentAt -1: none yet). */
const SENT_VALUE = 7;
const SENT_AT = 8;
/** The channel's aggregate (index in AGGREGATES). */
const AGGREGATE = 9;
const FIELDS = 10;

/**
 * Every reported channel's window. sample() takes one sampling period's samples and returns the
 * reports due now (undefined when none is), ready to be stored as one record.
 */
export class ReportWindows {
  readonly #sampleMs: number;
  /** Channel numbers, in channel order, and their settings. */
  readonly #channels: number[];
  readonly #settings: ChannelReporting[];
  readonly #w: Float64Array;
  readonly #reason: (string | undefined)[];
  /** The last report sent: its quality and reason ("" for none). */
  readonly #sentQuality: string[];
  readonly #sentReason: string[];

  constructor(config: PipelineConfig, sampleMs: number) {
    this.#sampleMs = sampleMs;
    this.#channels = [...config.channels.keys()].sort((a, b) => a - b);
    const n = this.#channels.length;
    this.#settings = this.#channels.map((c) => config.channels.get(c)!);
    const w = (this.#w = new Float64Array(n * FIELDS));
    for (let i = 0; i < n; i++) {
      const at = i * FIELDS;
      w[at + MIN] = Infinity;
      w[at + MAX_SEEN] = -Infinity;
      w[at + SENT_VALUE] = NaN;
      w[at + SENT_AT] = -1;
      w[at + AGGREGATE] = AGGREGATES.indexOf(CHANNELS[this.#channels[i]].aggregate);
    }
    this.#reason = new Array<string | undefined>(n).fill(undefined);
    this.#sentQuality = new Array<string>(n).fill("");
    this.#sentReason = new Array<string>(n).fill("");
  }

  /** Channels reported, in channel order. */
  get channels(): number[] {
    return this.#channels.slice();
  }

  sample(samples: ReadonlyMap<number, ChannelSample>, now: number): Map<number, ChannelSample> | undefined {
    let due: Map<number, ChannelSample> | undefined;
    for (let i = 0; i < this.#channels.length; i++) {
      this.#add(i, samples.get(this.#channels[i]) ?? ABSENT);
      if (this.#w[i * FIELDS + SAMPLES] * this.#sampleMs < this.#settings[i].intervalMs) continue;
      const report = this.#close(i, now);
      if (report) (due ??= new Map()).set(this.#channels[i], report);
    }
    return due;
  }

  #add(i: number, s: ChannelSample): void {
    const w = this.#w;
    const at = i * FIELDS;
    w[at + SAMPLES]++;
    const v = s.quality === "bad" ? undefined : s.value;
    if (v === undefined || !Number.isFinite(v)) {
      w[at + NOT_GOOD]++;
      this.#reason[i] = s.reason ?? this.#reason[i];
      return;
    }
    if (s.quality !== "good") {
      w[at + NOT_GOOD]++;
      this.#reason[i] = s.reason ?? this.#reason[i];
      w[at + UNCERTAIN] = 1;
    }
    w[at + COUNT]++;
    w[at + SUM] += w[at + AGGREGATE] === RMS ? v * v : v;
    if (v < w[at + MIN]) w[at + MIN] = v;
    if (v > w[at + MAX_SEEN]) w[at + MAX_SEEN] = v;
  }

  /** Closes window i; the report to send, or undefined when the deadband holds it back. */
  #close(i: number, now: number): ChannelSample | undefined {
    const report = this.#report(i);
    const w = this.#w;
    const at = i * FIELDS;
    w[at + SAMPLES] = w[at + COUNT] = w[at + NOT_GOOD] = 0;
    w[at + SUM] = 0;
    w[at + MIN] = Infinity;
    w[at + MAX_SEEN] = -Infinity;
    this.#reason[i] = undefined;
    w[at + UNCERTAIN] = 0;
    if (this.#quiet(i, report, now)) return undefined;
    w[at + SENT_VALUE] = report.value ?? NaN;
    this.#sentQuality[i] = report.quality;
    this.#sentReason[i] = report.reason ?? "";
    w[at + SENT_AT] = now;
    return report;
  }

  #report(i: number): ChannelSample {
    const w = this.#w;
    const at = i * FIELDS;
    const count = w[at + COUNT];
    if (count === 0) return { quality: "bad", reason: this.#reason[i] ?? "no-data" };
    const aggregate = w[at + AGGREGATE];
    const value = aggregate === MAX ? w[at + MAX_SEEN] : aggregate === RMS ? Math.sqrt(w[at + SUM] / count) : w[at + SUM] / count;
    const report: ChannelSample = { quality: "good", value };
    const settings = this.#settings[i];
    if (settings.min) report.min = w[at + MIN];
    if (settings.max) report.max = w[at + MAX_SEEN];
    if (w[at + NOT_GOOD] > 0) {
      report.quality = "uncertain";
      report.reason = this.#reason[i] ?? (w[at + UNCERTAIN] ? "range" : "fault");
      report.count = count;
    }
    return report;
  }

  #quiet(i: number, report: ChannelSample, now: number): boolean {
    const s = this.#settings[i];
    const w = this.#w;
    const sentAt = w[i * FIELDS + SENT_AT];
    if (s.maxSilentMs === 0 || sentAt < 0 || now - sentAt >= s.maxSilentMs) return false;
    // Quality names hold no "/": comparing quality and reason apart is comparing "quality/reason".
    if (report.quality !== this.#sentQuality[i] || (report.reason ?? "") !== this.#sentReason[i]) return false;
    const sent = w[i * FIELDS + SENT_VALUE];
    if (report.value === undefined || Number.isNaN(sent)) return true; // still bad, same reason
    const change = Math.abs(report.value - sent);
    // A window's extremes beyond the band are news even when its mean is not.
    const band = Math.max(s.deadband, (s.deadbandPct / 100) * Math.abs(sent));
    if (report.min !== undefined && Math.abs(report.min - sent) > band) return false;
    if (report.max !== undefined && Math.abs(report.max - sent) > band) return false;
    return change <= band;
  }
}

const RMS = 1;
const MAX = 2;
const ABSENT: ChannelSample = Object.freeze({ quality: "bad", reason: "absent" });
