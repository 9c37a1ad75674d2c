// The device-limits build's entry point: the firmware's own main, plus what a scenario needs that the
// simulator cannot take from outside (npm run sim -- --limits):
// - a forced garbage collection every `probe_gc_ms` (0: never). The SDK samples the heaps once a
//   second counting garbage not yet collected, and with a fixed heap XS collects only when the heap
//   is full: without forced collections the samples say how often it filled up, not what the
//   firmware keeps;
// - every simulated chip faulted from `sim_fault_at` (ms since the epoch, so it holds across a
//   restart of mcsim) for `sim_fault_s` seconds.

import config from "mc/config";
import Debug from "debug";
import Timer from "timer";
import main from "../../src/main";
import { simBoard } from "../board";

export default function probe(): void {
  main();
  const settings = config as Record<string, unknown>;
  const every = Number(settings.probe_gc_ms ?? 0);
  if (every > 0) Timer.repeat(() => Debug.gc(), every);
  const at = Number(settings.sim_fault_at ?? 0);
  const seconds = Number(settings.sim_fault_s ?? 0);
  if (at > 0 && seconds > 0) scheduleFaults(at, at + seconds * 1000);
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
