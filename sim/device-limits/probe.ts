// The device-limits build's entry point: the firmware's own main, plus what a scenario needs that the
// simulator cannot take from outside (npm run sim -- --limits):
// - a forced garbage collection every `probe_gc_ms` (0: never). The SDK samples the heaps once a
//   second counting garbage not yet collected, and with a fixed heap XS collects only when the heap
//   is full: without forced collections the samples say how often it filled up, not what the
//   firmware keeps. Right after each forced collection the probe reads the heaps (the SDK's
//   instrumentation module), so what is *live* is measured too: a line
//   `probe: live slots=S chunk=C` whenever either reaches a new peak, and once a minute
//   `probe: minute slots=S chunk=C` (that minute's live peaks) for the scenario's steady-state figures;
// - every simulated chip faulted from `sim_fault_at` (ms since the epoch, so it holds across a
//   restart of mcsim) for `sim_fault_s` seconds.

import config from "mc/config";
import Debug from "debug";
import Instrumentation from "instrumentation";
import Timer from "timer";
import main from "../../src/main";
import { simBoard } from "../board";

export default function probe(): void {
  // What main() keeps once it has returned (drivers, flash log, uplink, fleet agents, closures;
  // the simulated board is made on first use inside it), for the scenario's figures.
  const before = liveHeaps();
  main();
  const after = liveHeaps();
  trace(`probe: main slots=${after[0] - before[0]} chunk=${after[1] - before[1]} (before main: slots=${before[0]} chunk=${before[1]})\n`);
  const settings = config as Record<string, unknown>;
  const every = Number(settings.probe_gc_ms ?? 0);
  if (every > 0) watchLive(every);
  const at = Number(settings.sim_fault_at ?? 0);
  const seconds = Number(settings.sim_fault_s ?? 0);
  if (at > 0 && seconds > 0) scheduleFaults(at, at + seconds * 1000);
}

/** Slot and chunk bytes in use right after a collection. */
function liveHeaps(): [number, number] {
  Debug.gc();
  return [Instrumentation.get(Instrumentation.map("XS Slot Heap Used")) ?? 0, Instrumentation.get(Instrumentation.map("XS Chunk Heap Used")) ?? 0];
}

/** Collects every `every` ms and reports the live heaps' peaks (slots in bytes, as the SDK counts them). */
function watchLive(every: number): void {
  const slotIndex = Instrumentation.map("XS Slot Heap Used");
  const chunkIndex = Instrumentation.map("XS Chunk Heap Used");
  let peakSlots = 0;
  let peakChunk = 0;
  let minuteSlots = 0;
  let minuteChunk = 0;
  let minuteEnds = Date.now() + 60_000;
  Timer.repeat(() => {
    Debug.gc();
    const slots = Instrumentation.get(slotIndex) ?? 0;
    const chunk = Instrumentation.get(chunkIndex) ?? 0;
    if (slots > minuteSlots) minuteSlots = slots;
    if (chunk > minuteChunk) minuteChunk = chunk;
    if (slots > peakSlots || chunk > peakChunk) {
      if (slots > peakSlots) peakSlots = slots;
      if (chunk > peakChunk) peakChunk = chunk;
      trace(`probe: live slots=${slots} chunk=${chunk}\n`);
    }
    if (Date.now() >= minuteEnds) {
      trace(`probe: minute slots=${minuteSlots} chunk=${minuteChunk}\n`);
      minuteSlots = 0;
      minuteChunk = 0;
      minuteEnds += 60_000;
    }
  }, every);
}

function scheduleFaults(from: number, until: number): void {
  let faulted = false;
  const timer = Timer.repeat(() => {
    const now = Date.now();
    const due = now >= from && now < until;
    if (due !== faulted) {
      faulted = due;
      simBoard().faultEveryChip(due);
      trace(`simulated board: every chip ${due ? "faulted" : "healed"}\n`);
    }
    if (now >= until) Timer.clear(timer);
  }, 250);
}
