// Power-cut trials for the flash log: a seeded sequence of appends, acknowledgements, reads and
// restarts is replayed once per flash step with the power cut at that step; after each cut the log
// is remounted and checked against a model of what the log promised. Used by the tests and by
// `npm run bench -- flashlog`.

import { FlashLog, LogFullError, type FullPolicy } from "../../src/log/flash-log";
import { PowerLoss, SimNorFlash } from "../../sim/nor-flash";
import { random } from "./api";

type Op = { kind: "append"; size: number } | { kind: "ack"; fraction: number } | { kind: "read" } | { kind: "restart" };

export interface TrialTotals {
  trials: number;
  lost: number;
  corrupt: number;
  resurrected: number;
  disordered: number;
  /** Descriptions of the first few failures, for the test message. */
  failures: string[];
}

export interface PowerCutOptions {
  sequences: number;
  opsPerSequence: number;
  seed: number;
  policy: FullPolicy;
  sectors?: number;
  sectorSize?: number;
}

function makeOps(rand: () => number, count: number): Op[] {
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const r = rand();
    if (r < 0.6) ops.push({ kind: "append", size: 1 + Math.floor(rand() * 90) });
    else if (r < 0.85) ops.push({ kind: "ack", fraction: rand() });
    else if (r < 0.95) ops.push({ kind: "read" });
    else ops.push({ kind: "restart" });
  }
  return ops;
}

function payloadFor(n: number, size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (n * 31 + i * 7 + (n >> 8)) & 0xff;
  return p;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What the log has promised so far. */
export interface Model {
  durable: Map<number, Uint8Array>;
  /** Highest upTo whose acknowledge() returned. */
  acked: number;
  /** An append that was under way when the power went: it may or may not survive. */
  inFlight?: { seq: number; payload: Uint8Array };
  appendCount: number;
  droppedSeen: number;
  /** An acknowledge(upTo) under way when the power went: records up to it may be gone or not. */
  ackInFlight: number;
}

export function newModel(): Model {
  return { durable: new Map(), acked: -1, appendCount: 0, droppedSeen: 0, ackInFlight: -1 };
}

export function newTotals(): TrialTotals {
  return { trials: 0, lost: 0, corrupt: 0, resurrected: 0, disordered: 0, failures: [] };
}

/** Compares a remounted log with the model; every discrepancy is counted in totals. */
export function check(log: FlashLog, model: Model, label: string, totals: TrialTotals): void {
  const fail = (kind: "lost" | "corrupt" | "resurrected" | "disordered", detail: string) => {
    totals[kind]++;
    if (totals.failures.length < 5) totals.failures.push(`${label}: ${kind}: ${detail}`);
  };
  const present = log.read(0, 1 << 30);
  let previous = -1;
  const seen = new Set<number>();
  for (const r of present) {
    if (r.seq <= previous) fail("disordered", `${r.seq} after ${previous}`);
    previous = r.seq;
    seen.add(r.seq);
    if (r.seq <= model.acked) fail("resurrected", `record ${r.seq} was acknowledged up to ${model.acked}`);
    const expected = model.durable.get(r.seq) ?? (model.inFlight?.seq === r.seq ? model.inFlight.payload : undefined);
    if (!expected || !same(expected, r.payload)) fail("corrupt", `record ${r.seq} (${r.payload.length} bytes) is not what was appended`);
  }
  // Missing durable, unacknowledged records are allowed only as dropped-oldest, and counted.
  const firstPresent = present.length > 0 ? present[0].seq : log.nextSeq;
  let missing = 0;
  for (const seq of model.durable.keys()) {
    if (seq <= Math.max(model.acked, model.ackInFlight) || seen.has(seq)) continue;
    if (seq > firstPresent) fail("lost", `record ${seq} vanished from the middle of the log`);
    else missing++;
  }
  // Only drops the model has not accounted for yet can explain a missing record: compared with all
  // drops since format, a real loss would hide behind earlier legitimate drops.
  const unaccounted = log.dropped - model.droppedSeen;
  if (missing > unaccounted) fail("lost", `${missing} records missing but only ${unaccounted} more counted as dropped`);
  for (const seq of model.durable.keys()) if (seq >= log.nextSeq) fail("lost", `next sequence ${log.nextSeq} would reuse ${seq}`);
}

/**
 * Records below the log's tail that were never acknowledged were dropped (drop-oldest policy): no
 * longer promised, but each must have been counted in the log's durable drop count.
 */
export function forgetDropped(log: FlashLog, model: Model, totals: TrialTotals, label: string): void {
  let gone = 0;
  for (const seq of model.durable.keys()) {
    if (seq < log.tailSeq && seq > model.acked) {
      model.durable.delete(seq);
      gone++;
    }
  }
  model.droppedSeen += gone;
  if (model.droppedSeen > log.dropped) {
    totals.lost++;
    if (totals.failures.length < 5) totals.failures.push(`${label}: lost: ${model.droppedSeen} records left the log but ${log.dropped} were counted as dropped`);
    model.droppedSeen = log.dropped;
  }
}

function runSequence(ops: Op[], cutAt: number, options: PowerCutOptions, seed: number, totals: TrialTotals): number {
  const flash = new SimNorFlash({ byteLength: (options.sectors ?? 6) * (options.sectorSize ?? 512), blockSize: options.sectorSize ?? 512, random: random(seed) });
  const model = newModel();
  const stepsBefore = () => flash.stats.programs + flash.stats.erases;
  if (cutAt > 0) flash.cutAfter(cutAt);
  let log: FlashLog | undefined;
  const mount = () => new FlashLog(flash, { whenFull: options.policy });
  try {
    log = mount();
    for (const op of ops) {
      if (op.kind === "append") {
        const payload = payloadFor(model.appendCount++, op.size);
        model.inFlight = { seq: log.nextSeq, payload };
        try {
          const seq = log.append(payload);
          model.durable.set(seq, payload);
        } catch (error) {
          if (!(error instanceof LogFullError)) throw error;
        }
        model.inFlight = undefined;
      } else if (op.kind === "ack") {
        const pending = log.nextSeq - log.tailSeq;
        if (pending > 0) {
          const upTo = log.tailSeq + Math.floor(op.fraction * pending);
          model.ackInFlight = upTo;
          log.acknowledge(upTo);
          model.ackInFlight = -1;
          model.acked = Math.max(model.acked, upTo);
        }
      } else if (op.kind === "read") {
        log.read(log.tailSeq, 10);
      } else {
        log = mount();
      }
      forgetDropped(log, model, totals, `seed ${seed} op ${op.kind}`);
    }
  } catch (error) {
    if (!(error instanceof PowerLoss)) throw error;
    flash.powerOn();
    totals.trials++;
    const label = `seed ${seed} cut at step ${cutAt}`;
    const recovered = mount();
    check(recovered, model, label, totals);
    // An interrupted acknowledgement may have taken effect in part; from now on that part counts.
    model.acked = Math.max(model.acked, Math.min(model.ackInFlight, recovered.tailSeq - 1));
    model.ackInFlight = -1;
    // The recovered log must keep working: append, acknowledge, restart, check again.
    // An append cut short may have completed on flash: from now on it is promised like any other.
    const survivor = model.inFlight && recovered.read(model.inFlight.seq, 1).find((r) => r.seq === model.inFlight!.seq);
    if (survivor && model.inFlight) model.durable.set(survivor.seq, model.inFlight.payload);
    model.inFlight = undefined;
    forgetDropped(recovered, model, totals, label);
    for (let i = 0; i < 5; i++) {
      const payload = payloadFor(model.appendCount++, 20);
      try {
        model.durable.set(recovered.append(payload), payload);
      } catch (e) {
        if (!(e instanceof LogFullError)) throw e;
      }
    }
    if (recovered.pendingRecords > 0) {
      const upTo = recovered.nextSeq - 2;
      if (upTo >= recovered.tailSeq) {
        recovered.acknowledge(upTo);
        model.acked = Math.max(model.acked, upTo);
      }
    }
    check(mount(), model, `${label}, after more appends`, totals);
    return -1;
  }
  return stepsBefore();
}

/** Runs every sequence once without a cut to count its flash steps, then once per step with a cut there. */
export function runPowerCutTrials(options: PowerCutOptions): TrialTotals {
  const totals = newTotals();
  const rand = random(options.seed);
  for (let s = 0; s < options.sequences; s++) {
    const seed = Math.floor(rand() * 2 ** 31);
    const ops = makeOps(random(seed), options.opsPerSequence);
    const steps = runSequence(ops, 0, options, seed, totals);
    for (let cut = 1; cut <= steps; cut++) runSequence(ops, cut, options, seed + cut, totals);
  }
  return totals;
}
