// Per-channel report windows: every sample goes into its channel's window; when the window's
// interval is over it becomes one report (value, optional extremes, quality), which is sent unless
// the deadband says nothing changed and the channel has not been silent too long. Pure: runs on XS.
//
// Quality: bad samples never enter a statistic. A window with some bad or uncertain samples is
// uncertain, with the count of samples that entered; with none, bad with the last reason.

import { CHANNELS, type ChannelSample } from "../telemetry/reading";
import type { ChannelReporting, PipelineConfig } from "./channel-config";

/** One channel's window: running sums, so a window of any length costs the same few numbers. */
class ChannelWindow {
  readonly channel: number;
  readonly settings: ChannelReporting;
  readonly #aggregate: "mean" | "rms" | "max";
  #samples = 0;
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;
  #notGood = 0;
  #reason: string | undefined;
  #quality: "bad" | "uncertain" = "bad";
  // The last report sent: what the deadband compares against.
  #sentValue: number | undefined;
  #sentQuality = "";
  #sentAt = -1;

  constructor(channel: number, settings: ChannelReporting) {
    this.channel = channel;
    this.settings = settings;
    this.#aggregate = CHANNELS[channel].aggregate;
  }

  add(s: ChannelSample): void {
    this.#samples++;
    const v = s.quality === "bad" ? undefined : s.value;
    if (v === undefined || !Number.isFinite(v)) {
      this.#notGood++;
      this.#reason = s.reason ?? this.#reason;
      return;
    }
    if (s.quality !== "good") {
      this.#notGood++;
      this.#reason = s.reason ?? this.#reason;
      this.#quality = "uncertain";
    }
    this.#count++;
    this.#sum += this.#aggregate === "rms" ? v * v : v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** True when the window's interval has passed (samples every sampleMs). */
  full(sampleMs: number): boolean {
    return this.#samples * sampleMs >= this.settings.intervalMs;
  }

  /** Closes the window; the report to send, or undefined when the deadband holds it back. */
  close(now: number): ChannelSample | undefined {
    const report = this.#report();
    this.#samples = this.#count = this.#sum = this.#notGood = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
    this.#reason = undefined;
    this.#quality = "bad";
    if (this.#quiet(report, now)) return undefined;
    this.#sentValue = report.value;
    this.#sentQuality = `${report.quality}/${report.reason ?? ""}`;
    this.#sentAt = now;
    return report;
  }

  #report(): ChannelSample {
    if (this.#count === 0) return { quality: "bad", reason: this.#reason ?? "no-data" };
    const value = this.#aggregate === "max" ? this.#max : this.#aggregate === "rms" ? Math.sqrt(this.#sum / this.#count) : this.#sum / this.#count;
    const report: ChannelSample = { quality: "good", value };
    if (this.settings.min) report.min = this.#min;
    if (this.settings.max) report.max = this.#max;
    if (this.#notGood > 0) {
      report.quality = "uncertain";
      report.reason = this.#reason ?? (this.#quality === "uncertain" ? "range" : "fault");
      report.count = this.#count;
    }
    return report;
  }

  #quiet(report: ChannelSample, now: number): boolean {
    const s = this.settings;
    if (s.maxSilentMs === 0 || this.#sentAt < 0 || now - this.#sentAt >= s.maxSilentMs) return false;
    if (`${report.quality}/${report.reason ?? ""}` !== this.#sentQuality) return false;
    if (report.value === undefined || this.#sentValue === undefined) return true; // still bad, same reason
    const change = Math.abs(report.value - this.#sentValue);
    // A window's extremes beyond the band are news even when its mean is not.
    const band = Math.max(s.deadband, (s.deadbandPct / 100) * Math.abs(this.#sentValue));
    if (report.min !== undefined && Math.abs(report.min - this.#sentValue) > band) return false;
    if (report.max !== undefined && Math.abs(report.max - this.#sentValue) > band) return false;
    return change <= band;
  }
}

/**
 * Every reported channel's window. sample() takes one sampling period's samples and returns the
 * reports due now (undefined when none is), ready to be stored as one record.
 */
export class ReportWindows {
  readonly #windows: ChannelWindow[] = [];
  readonly #sampleMs: number;

  constructor(config: PipelineConfig, sampleMs: number) {
    this.#sampleMs = sampleMs;
    for (const [n, settings] of config.channels) this.#windows.push(new ChannelWindow(n, settings));
    this.#windows.sort((a, b) => a.channel - b.channel);
  }

  /** Channels reported, in channel order. */
  get channels(): number[] {
    return this.#windows.map((w) => w.channel);
  }

  sample(samples: ReadonlyMap<number, ChannelSample>, now: number): Map<number, ChannelSample> | undefined {
    let due: Map<number, ChannelSample> | undefined;
    for (let i = 0; i < this.#windows.length; i++) {
      const w = this.#windows[i];
      w.add(samples.get(w.channel) ?? { quality: "bad", reason: "absent" });
      if (!w.full(this.#sampleMs)) continue;
      const report = w.close(now);
      if (report) (due ??= new Map()).set(w.channel, report);
    }
    return due;
  }
}
