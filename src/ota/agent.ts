// The update itself, pure: takes a firmware-update job from the Jobs client, downloads the image
// block by block into the inactive slot (each block read back before it counts, progress persisted
// every few blocks), verifies what the slot holds (size, SHA-256, ECDSA P-256 signature against the
// key built into the firmware), activates it and reboots; in the new image it runs the self-test
// (sensors started, broker reached, flash log mounted) and confirms the image, or rolls back to the
// previous one. Every step is reported on the job; the persisted record (src/ota/ota-record.ts)
// carries the outcome across reboots and power cuts, so the job ends SUCCEEDED or FAILED with a
// reason whichever image ends up running. See src/ota/README.md for the states.

import { compareVersions, parseUpdateDocument, type UpdateDocument } from "./job-document";
import type { JobExecution, JobStatus, JobsEvents } from "./jobs-client";
import { DownloadTracker } from "./download";
import { decodeRecord, encodeRecord, type OtaRecord, type RecordStore } from "./ota-record";
import { verifyP256, type PublicKey } from "./p256";
import { Sha256, sameBytes, toHex } from "./sha256";
import type { BlockSource, BootControl, UpdateSlot } from "./slot";

export type SelfTestCheck = "sensors" | "broker" | "log";
export const SELF_TEST_CHECKS: readonly SelfTestCheck[] = ["sensors", "broker", "log"];

/** An incremental SHA-256: src/ota/sha256.ts, or on ESP32 the SDK's native crypt Digest("SHA256"). */
export interface ImageHash {
  update(bytes: Uint8Array, offset: number, length: number): unknown;
  digest(): Uint8Array;
}

/** Where reports go: the Jobs client's report(). */
export interface JobReporter {
  report(status: JobStatus, details?: Record<string, unknown>): void;
}

export interface OtaAgentOptions {
  runningVersion: string;
  slot: UpdateSlot;
  boot: BootControl;
  store: RecordStore;
  /** The key image signatures must verify under (built into the firmware). */
  publicKey: PublicKey;
  /** A block source for a job's image. */
  source(document: UpdateDocument): BlockSource;
  /** Whether this device can fetch the document's image: undefined if so, else why not (the job is rejected). */
  accepts?(document: UpdateDocument): string | undefined;
  now(): number;
  log(line: string): void;
  /** Runs fn later (Timer.set(fn, 0) on the device), so long work yields to sampling; default: at once. */
  defer?(fn: () => void): void;
  /** Persist download progress every this many blocks (default 8). */
  persistEvery?: number;
  /** Give up after this many consecutive failed block fetches (default 10). */
  maxFailures?: number;
  /** Wait before fetching again after a failure (default 5 s, doubling up to 5 min). */
  retryMs?: number;
  /** At most one IN_PROGRESS progress report this often (default 10 s). */
  progressEveryMs?: number;
  /** The self-test must pass within this (default 5 min). */
  selfTestTimeoutMs?: number;
  /** Wait after activation before rebooting, so the report can go out (default 3 s). */
  rebootDelayMs?: number;
  /** Blocks hashed per verification step (default 4). */
  verifyBlocksPerStep?: number;
  /** The image hash (default the pure Sha256: about 270 M XS computrons per MiB, see README). */
  hash?(): ImageHash;
  /** Activations of one image that may end without a verdict before the job fails (default 2). */
  maxActivations?: number;
}

type Phase = "idle" | "downloading" | "verifying" | "rebooting" | "testing" | "done";

export class OtaAgent implements JobsEvents {
  readonly #o: OtaAgentOptions;
  #reporter: JobReporter | undefined;
  #phase: Phase = "idle";
  #record: OtaRecord | undefined;
  /** The job the Jobs client holds, if it is this agent's to report on. */
  #jobId: string | undefined;
  #doc: UpdateDocument | undefined;
  #tracker: DownloadTracker | undefined;
  #source: BlockSource | undefined;
  #block: Uint8Array = new Uint8Array(0);
  #readback: Uint8Array = new Uint8Array(0);
  #fetching = false;
  #failures = 0;
  #retryAt = -1;
  #lastProgressAt = -Infinity;
  #rebootAt = -1;
  #testDeadline = -1;
  #passed = new Set<SelfTestCheck>();
  #hash: ImageHash | undefined;
  #verifyOffset = 0;
  /** Bumped whenever a job ends, so a callback of an older job is ignored. */
  #generation = 0;

  constructor(options: OtaAgentOptions) {
    this.#o = options;
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** The persisted record (a copy), for tests and the status message. */
  get record(): OtaRecord | undefined {
    return this.#record ? { ...this.#record, sha256: this.#record.sha256.slice() } : undefined;
  }

  attach(reporter: JobReporter): void {
    this.#reporter = reporter;
  }

  /**
   * At start-up, before the network: a pending image starts its self-test; an image activated
   * before the last reboot that is not running (the bootloader went back) is a failed update.
   */
  boot(): void {
    const bytes = this.#o.store.load();
    this.#record = bytes ? decodeRecord(bytes) : undefined;
    const r = this.#record;
    const running = this.#o.runningVersion;
    if (this.#o.boot.runningState() === "pending") {
      if (r && r.version === running && (r.phase === "verified" || r.phase === "activated" || r.phase === "testing")) this.#save({ ...r, phase: "testing" });
      else this.#save(blankRecord("testing", "", running, "unknown"));
      this.#phase = "testing";
      this.#testDeadline = this.#o.now() + (this.#o.selfTestTimeoutMs ?? 300_000);
      this.#o.log(`ota: first boot of ${running}: self-test (${SELF_TEST_CHECKS.join(", ")})`);
      return;
    }
    if (r && (r.phase === "activated" || r.phase === "testing")) {
      if (r.version === running) {
        // confirmed, and the power went before the record said so
        this.#save({ ...r, phase: "succeeded" });
      } else if (r.attempts + 1 < (this.#o.maxActivations ?? 2)) {
        // The new image went away without a verdict (a power cut or a reset during its first
        // boot): the slot still holds the verified image, so it is verified and activated again
        // when the job comes back. A second time means the image itself is at fault.
        this.#save({ ...r, phase: "verified", attempts: r.attempts + 1 });
        this.#o.log(`ota: ${r.version} was rolled back before confirming itself; trying again`);
      } else {
        const reason = `${r.version} was rolled back ${r.attempts + 1} times before its self-test passed; ${running} is running`;
        this.#save({ ...r, phase: "failed", reason });
        this.#o.log(`ota: ${reason}`);
      }
    }
  }

  /** A self-test item passed (in the new image). */
  selfTestPassed(check: SelfTestCheck): void {
    if (this.#phase !== "testing") return;
    this.#passed.add(check);
    if (SELF_TEST_CHECKS.every((c) => this.#passed.has(c))) {
      // confirm first: a power cut after this boots the new image, and boot() then records success
      this.#o.boot.markValid();
      const r = this.#record!;
      this.#save({ ...r, phase: "succeeded" });
      this.#phase = "done";
      this.#o.log(`ota: ${this.#o.runningVersion} passed its self-test and is confirmed`);
      if (this.#jobId !== undefined && this.#jobId === r.jobId) this.#finish("SUCCEEDED", { version: r.version });
    }
  }

  /** A self-test item failed: the previous image is restored. */
  selfTestFailed(check: SelfTestCheck, reason: string): void {
    if (this.#phase !== "testing") return;
    this.#rollback(`self-test failed: ${check}: ${reason}`);
  }

  /** About once a second: self-test deadline, fetch retries, the reboot after activation. */
  tick(): void {
    const now = this.#o.now();
    if (this.#phase === "testing" && now >= this.#testDeadline) {
      const missing = SELF_TEST_CHECKS.filter((c) => !this.#passed.has(c));
      this.#rollback(`self-test failed: ${missing.join(", ")} not ready in ${Math.round((this.#o.selfTestTimeoutMs ?? 300_000) / 1000)} s`);
    } else if (this.#phase === "downloading" && this.#retryAt >= 0 && now >= this.#retryAt) {
      this.#retryAt = -1;
      this.#pump();
    } else if (this.#phase === "rebooting" && now >= this.#rebootAt) {
      this.#rebootAt = Infinity;
      this.#o.log("ota: rebooting into the new image");
      this.#o.boot.reboot();
    }
  }

  onJob(job: JobExecution): string | undefined {
    const parsed = parseUpdateDocument(job.document, { maxImageBytes: this.#o.slot.capacity });
    if (!parsed.ok) return parsed.reason;
    const doc = parsed.document;
    const r = this.#record;
    const cannot = this.#o.accepts?.(doc);
    const running = this.#o.runningVersion;
    this.#jobId = job.jobId;
    this.#doc = doc;
    if (r && r.jobId === job.jobId && r.phase === "succeeded" && r.version === running) return this.#finish("SUCCEEDED", { version: running });
    if (r && r.jobId === job.jobId && r.phase === "failed") return this.#finish("FAILED", { reason: r.reason, version: running });
    if (this.#phase === "testing") {
      // this boot is the job's new image, confirming itself: the result is reported when it is known
      if (r && (r.jobId === "" || r.jobId === job.jobId)) this.#save({ ...r, jobId: job.jobId, version: doc.version });
      this.#report({ step: "self-test", version: running });
      return undefined;
    }
    if (this.#phase !== "idle" && this.#phase !== "done") return `busy with job ${this.#record?.jobId ?? "?"}`;
    if (doc.version === running) return this.#finish("SUCCEEDED", { version: running, note: "already running this version" });
    if (cannot !== undefined) return cannot;
    if (compareVersions(doc.version, running) < 0 && !doc.allowDowngrade) return `downgrade from ${running} to ${doc.version} refused (allowDowngrade is not set)`;
    let resume = 0;
    if (r && r.jobId === job.jobId && (r.phase === "downloading" || r.phase === "verified") && r.size === doc.size && r.blockSize === doc.blockSize && sameBytes(r.sha256, doc.sha256))
      resume = r.phase === "verified" ? Math.ceil(doc.size / doc.blockSize) : r.nextBlock;
    this.#startDownload(job.jobId, doc, resume);
    return undefined;
  }

  onJobGone(jobId: string, reason: string): void {
    if (jobId !== this.#jobId) return;
    this.#o.log(`ota: job ${jobId} ended in the cloud (${reason}); stopping`);
    this.#jobId = undefined;
    if (this.#phase === "downloading" || this.#phase === "verifying") {
      this.#stopTransfer();
      this.#o.slot.abort();
      this.#o.store.save(undefined);
      this.#record = undefined;
      this.#phase = "idle";
    }
  }

  #startDownload(jobId: string, doc: UpdateDocument, resume: number): void {
    this.#generation++;
    const tracker = new DownloadTracker(doc.size, doc.blockSize, resume);
    const attempts = this.#record?.jobId === jobId ? this.#record.attempts : 0;
    this.#save({ phase: "downloading", jobId, version: doc.version, fromVersion: this.#o.runningVersion, size: doc.size, blockSize: doc.blockSize, nextBlock: resume, sha256: doc.sha256.slice(), reason: "", attempts });
    this.#tracker = tracker;
    if (this.#block.length !== doc.blockSize) {
      this.#block = new Uint8Array(doc.blockSize);
      this.#readback = new Uint8Array(doc.blockSize);
    }
    this.#failures = 0;
    this.#retryAt = -1;
    this.#phase = "downloading";
    try {
      this.#o.slot.begin(doc.size, resume > 0);
    } catch (error) {
      // A slot that cannot be written (a flash error, an image the slot cannot take) fails the job, never the node.
      return this.#fail("download", `flash: ${describe(error)}`);
    }
    this.#source = this.#o.source(doc);
    this.#o.log(`ota: job ${jobId}: ${this.#o.runningVersion} -> ${doc.version}, ${doc.size} bytes${resume > 0 ? `, resuming at block ${resume} of ${tracker.blockCount}` : ""}`);
    this.#lastProgressAt = -Infinity;
    this.#progress();
    this.#pump();
  }

  /** Fetches blocks in order; a source that answers synchronously is looped, not recursed. */
  #pump(): void {
    const generation = this.#generation;
    while (this.#phase === "downloading" && !this.#fetching && this.#retryAt < 0) {
      const request = this.#tracker!.next();
      if (!request) {
        this.#startVerify();
        return;
      }
      this.#fetching = true;
      let sync = true;
      let syncResult: { error?: string } | undefined;
      this.#source!.fetch(request.offset, request.length, this.#block, (error) => {
        if (generation !== this.#generation) return;
        if (sync) {
          syncResult = { error };
          return;
        }
        this.#fetching = false;
        if (this.#blockArrived(request.index, request.offset, request.length, error)) this.#pump();
      });
      sync = false;
      if (!syncResult) return; // answered later
      this.#fetching = false;
      if (!this.#blockArrived(request.index, request.offset, request.length, syncResult.error)) return;
    }
  }

  /** true when the block is in and the next may be fetched. */
  #blockArrived(index: number, offset: number, length: number, error: string | undefined): boolean {
    if (error === undefined) {
      try {
        this.#o.slot.write(offset, this.#block, length);
        this.#o.slot.read(offset, this.#readback, length);
      } catch (thrown) {
        this.#fail("download", `flash: block ${index}: ${describe(thrown)}`);
        return false;
      }
      for (let i = 0; i < length; i++) {
        if (this.#block[i] !== this.#readback[i]) {
          error = `flash: block ${index} did not read back as written`;
          break;
        }
      }
    }
    if (error !== undefined) {
      this.#failures++;
      const limit = this.#o.maxFailures ?? 10;
      if (this.#failures >= limit) {
        this.#fail("download", `download failed ${limit} times: ${error}`);
        return false;
      }
      const wait = Math.min(300_000, (this.#o.retryMs ?? 5000) * 2 ** (this.#failures - 1));
      this.#o.log(`ota: block ${index}: ${error}; again in ${wait} ms`);
      this.#retryAt = this.#o.now() + wait;
      return false;
    }
    this.#failures = 0;
    const tracker = this.#tracker!;
    tracker.completed(index);
    if (tracker.nextBlock % (this.#o.persistEvery ?? 8) === 0 || tracker.done) this.#save({ ...this.#record!, nextBlock: tracker.nextBlock });
    this.#progress();
    return true;
  }

  /** Reads back what the slot holds and checks it: SHA-256 first, then the signature. */
  #startVerify(): void {
    this.#phase = "verifying";
    this.#source = undefined;
    this.#hash = this.#o.hash?.() ?? new Sha256();
    this.#verifyOffset = 0;
    this.#report({ step: "verify", version: this.#doc!.version });
    this.#verifySteps(this.#generation);
  }

  #verifySteps(generation: number): void {
    const doc = this.#doc!;
    const perStep = (this.#o.verifyBlocksPerStep ?? 4) * doc.blockSize;
    for (;;) {
      if (generation !== this.#generation || this.#phase !== "verifying") return;
      const stop = Math.min(doc.size, this.#verifyOffset + perStep);
      while (this.#verifyOffset < stop) {
        const n = Math.min(doc.blockSize, doc.size - this.#verifyOffset);
        try {
          this.#o.slot.read(this.#verifyOffset, this.#block, n);
        } catch (error) {
          return this.#fail("verify", `flash: ${describe(error)}`);
        }
        this.#hash!.update(this.#block, 0, n);
        this.#verifyOffset += n;
      }
      if (this.#verifyOffset >= doc.size) break;
      if (this.#o.defer) {
        this.#o.defer(() => this.#verifySteps(generation));
        return;
      }
    }
    const digest = this.#hash!.digest();
    this.#hash = undefined;
    if (!sameBytes(digest, doc.sha256)) return this.#fail("verify", `sha256 mismatch: the image is ${toHex(digest).slice(0, 16)}..., the job says ${toHex(doc.sha256).slice(0, 16)}...`);
    if (!verifyP256(this.#o.publicKey, digest, doc.signature)) return this.#fail("verify", "signature does not verify under the firmware's update key");
    this.#save({ ...this.#record!, phase: "verified" });
    try {
      this.#o.slot.activate();
    } catch (error) {
      // ESP-IDF checks the image again here (esp_ota_set_boot_partition) and may refuse it.
      return this.#fail("activate", `the image was not made bootable: ${describe(error)}`);
    }
    this.#save({ ...this.#record!, phase: "activated" });
    this.#phase = "rebooting";
    this.#rebootAt = this.#o.now() + (this.#o.rebootDelayMs ?? 3000);
    this.#report({ step: "reboot", version: doc.version });
    this.#o.log(`ota: ${doc.version} verified and activated; rebooting`);
  }

  #fail(step: string, reason: string): void {
    this.#stopTransfer();
    try {
      this.#o.slot.abort();
    } catch {
      // the job fails either way; the slot is not bootable unless activated
    }
    this.#save({ ...this.#record!, phase: "failed", reason });
    this.#phase = "done";
    this.#o.log(`ota: job ${this.#record!.jobId} failed at ${step}: ${reason}`);
    if (this.#jobId === this.#record!.jobId) this.#finish("FAILED", { step, reason, version: this.#o.runningVersion });
  }

  #rollback(reason: string): void {
    this.#save({ ...this.#record!, phase: "failed", reason });
    this.#phase = "done";
    this.#o.log(`ota: ${reason}; rolling back`);
    this.#o.boot.rollback();
  }

  #stopTransfer(): void {
    this.#generation++;
    this.#source?.cancel();
    this.#source = undefined;
    this.#fetching = false;
    this.#retryAt = -1;
    this.#hash = undefined;
  }

  #progress(): void {
    const now = this.#o.now();
    const tracker = this.#tracker!;
    if (!tracker.done && now - this.#lastProgressAt < (this.#o.progressEveryMs ?? 10_000)) return;
    this.#lastProgressAt = now;
    this.#report({ step: "download", progress: `${tracker.percent}%`, version: this.#doc!.version });
  }

  #report(details: Record<string, unknown>): void {
    if (this.#jobId !== undefined) this.#reporter?.report("IN_PROGRESS", details);
  }

  /** A terminal report; returns undefined so onJob can return it. */
  #finish(status: JobStatus, details: Record<string, unknown>): undefined {
    this.#jobId = undefined;
    this.#reporter?.report(status, details);
    return undefined;
  }

  #save(record: OtaRecord): void {
    this.#o.store.save(encodeRecord(record));
    this.#record = record;
  }
}

function blankRecord(phase: OtaRecord["phase"], jobId: string, version: string, fromVersion: string): OtaRecord {
  return { phase, jobId, version, fromVersion, size: 0, blockSize: 0, nextBlock: 0, sha256: new Uint8Array(32), reason: "", attempts: 0 };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
