// Per-channel report windows: every sample goes into its channel's window; when the window's
// interval is over it becomes one report (value, optional extremes, quality), which is sent unless
// the deadband says nothing changed and the channel has not been silent too long. Pure: runs on XS.
//
// Quality: bad samples never enter a statistic. A window with some bad or uncertain samples is
// uncertain, with the count of samples that entered; with none, bad with the last reason.

import { CHANNELS, type ChannelSample } from "../telemetry/reading";
import type { ChannelReporting, PipelineConfig } from "./channel-config";

// Every window's state lives in a few typed arrays indexed by the window's position, not in an object
// per channel: on an ESP32 board's 4,928 XS slots an object of fifteen fields per channel adds up
// (npm run bench -- memory), while typed arrays are chunk memory.
const AGGREGATES = ["mean", "rms", "max"] as const;

/**
 * Every reported channel's window. sample() takes one sampling period's samples and returns the
 * reports due now (undefined when none is), ready to be stored as one record.
 */
export class ReportWindows {
  readonly #sampleMs: number;
  /** Channel numbers, in channel order, and their settings. */
  readonly #channels: number[];
  readonly #settings: ChannelReporting[];
  readonly #aggregate: Uint8Array;
  // The window under way.
  readonly #samples: Uint32Array;
  readonly #count: Uint32Array;
  readonly #notGood: Uint32Array;
  readonly #sum: Float64Array;
  readonly #min: Float64Array;
  readonly #max: Float64Array;
  /** 1 when a sample kept its value but was uncertain. */
  readonly #uncertain: Uint8Array;
  readonly #reason: (string | undefined)[];
  // The last report sent: what the deadband compares against (NaN: no value; sentAt -1: none yet).
  readonly #sentValue: Float64Array;
  readonly #sentAt: Float64Array;
  readonly #sentQuality: string[];

  constructor(config: PipelineConfig, sampleMs: number) {
    this.#sampleMs = sampleMs;
    this.#channels = [...config.channels.keys()].sort((a, b) => a - b);
    const n = this.#channels.length;
    this.#settings = this.#channels.map((c) => config.channels.get(c)!);
    this.#aggregate = Uint8Array.from(this.#channels, (c) => AGGREGATES.indexOf(CHANNELS[c].aggregate));
    this.#samples = new Uint32Array(n);
    this.#count = new Uint32Array(n);
    this.#notGood = new Uint32Array(n);
    this.#sum = new Float64Array(n);
    this.#min = new Float64Array(n).fill(Infinity);
    this.#max = new Float64Array(n).fill(-Infinity);
    this.#uncertain = new Uint8Array(n);
    this.#reason = new Array<string | undefined>(n).fill(undefined);
    this.#sentValue = new Float64Array(n).fill(NaN);
    this.#sentAt = new Float64Array(n).fill(-1);
    this.#sentQuality = new Array<string>(n).fill("");
  }

  /** Channels reported, in channel order. */
  get channels(): number[] {
    return this.#channels.slice();
  }

  sample(samples: ReadonlyMap<number, ChannelSample>, now: number): Map<number, ChannelSample> | undefined {
    let due: Map<number, ChannelSample> | undefined;
    for (let i = 0; i < this.#channels.length; i++) {
      this.#add(i, samples.get(this.#channels[i]) ?? ABSENT);
      if (this.#samples[i] * this.#sampleMs < this.#settings[i].intervalMs) continue;
      const report = this.#close(i, now);
      if (report) (due ??= new Map()).set(this.#channels[i], report);
    }
    return due;
  }

  #add(i: number, s: ChannelSample): void {
    this.#samples[i]++;
    const v = s.quality === "bad" ? undefined : s.value;
    if (v === undefined || !Number.isFinite(v)) {
      this.#notGood[i]++;
      this.#reason[i] = s.reason ?? this.#reason[i];
      return;
    }
    if (s.quality !== "good") {
      this.#notGood[i]++;
      this.#reason[i] = s.reason ?? this.#reason[i];
      this.#uncertain[i] = 1;
    }
    this.#count[i]++;
    this.#sum[i] += this.#aggregate[i] === RMS ? v * v : v;
    if (v < this.#min[i]) this.#min[i] = v;
    if (v > this.#max[i]) this.#max[i] = v;
  }

  /** Closes window i; the report to send, or undefined when the deadband holds it back. */
  #close(i: number, now: number): ChannelSample | undefined {
    const report = this.#report(i);
    this.#samples[i] = this.#count[i] = this.#notGood[i] = 0;
    this.#sum[i] = 0;
    this.#min[i] = Infinity;
    this.#max[i] = -Infinity;
    this.#reason[i] = undefined;
    this.#uncertain[i] = 0;
    if (this.#quiet(i, report, now)) return undefined;
    this.#sentValue[i] = report.value ?? NaN;
    this.#sentQuality[i] = `${report.quality}/${report.reason ?? ""}`;
    this.#sentAt[i] = now;
    return report;
  }

  #report(i: number): ChannelSample {
    const count = this.#count[i];
    if (count === 0) return { quality: "bad", reason: this.#reason[i] ?? "no-data" };
    const aggregate = this.#aggregate[i];
    const value = aggregate === MAX ? this.#max[i] : aggregate === RMS ? Math.sqrt(this.#sum[i] / count) : this.#sum[i] / count;
    const report: ChannelSample = { quality: "good", value };
    const settings = this.#settings[i];
    if (settings.min) report.min = this.#min[i];
    if (settings.max) report.max = this.#max[i];
    if (this.#notGood[i] > 0) {
      report.quality = "uncertain";
      report.reason = this.#reason[i] ?? (this.#uncertain[i] ? "range" : "fault");
      report.count = count;
    }
    return report;
  }

  #quiet(i: number, report: ChannelSample, now: number): boolean {
    const s = this.#settings[i];
    const sentAt = this.#sentAt[i];
    if (s.maxSilentMs === 0 || sentAt < 0 || now - sentAt >= s.maxSilentMs) return false;
    if (`${report.quality}/${report.reason ?? ""}` !== this.#sentQuality[i]) return false;
    const sent = this.#sentValue[i];
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
