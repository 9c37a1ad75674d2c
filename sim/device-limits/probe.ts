// The device-limits build's entry point: the firmware's own main, plus a forced garbage collection
// every `probe_gc_ms` (0: never). The SDK samples the heaps once a second, counting garbage not yet
// collected; with a fixed heap XS collects only when the heap is full, so without a forced collection
// the samples say how often it filled up, not how much the firmware keeps.

import config from "mc/config";
import Debug from "debug";
import Timer from "timer";
import main from "../../src/main";

export default function probe(): void {
  main();
  const every = Number((config as Record<string, unknown>).probe_gc_ms ?? 0);
  if (every > 0) Timer.repeat(() => Debug.gc(), every);
}
