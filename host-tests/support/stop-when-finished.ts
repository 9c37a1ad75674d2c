// A firmware run that is stopped when its test finishes, passed or failed, so that no sampling
// timer or socket outlives the test. Stopping twice returns the first stop's result.
import { onTestFinished } from "vitest";
import type { NodeStats, RunningNode } from "../../src/app.ts";

export function stopWhenFinished(node: RunningNode): RunningNode {
  let stopped: Promise<NodeStats> | undefined;
  const stop = (drainMs?: number) => (stopped ??= node.stop(drainMs));
  onTestFinished(async () => void (await stop(0)));
  return {
    get stats() {
      return node.stats;
    },
    applySettings: (settings) => node.applySettings(settings),
    stop,
  };
}
