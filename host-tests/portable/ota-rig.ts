// A simulated node for the update tests: the dual-slot flash device (sim/ota/dual-slot.ts) on a
// simulated NOR chip that a power cut can tear at any erase or program, the OTA agent and Jobs
// client as the firmware wires them, a fake AWS IoT Jobs service holding one job, and an image
// server. Time is a number the rig advances; nothing waits on a real clock.

import { PowerLoss, SimNorFlash } from "../../sim/nor-flash";
import { SimOtaDevice, buildSimImage, type BootResult } from "../../sim/ota/dual-slot";
import { OtaAgent } from "../../src/ota/agent";
import { JobsClient } from "../../src/ota/jobs-client";
import { FlashRecordStore } from "../../src/ota/ota-record";
import { parsePublicKey } from "../../src/ota/p256";
import { fromHex } from "../../src/ota/sha256";
import type { BlockSource } from "../../src/ota/slot";
import { UPDATE_OPERATION } from "../../src/ota/job-document";
import { random } from "./api";

// A test key and the signature of buildSimImage("0.4.0", 20000, 7), made with node:crypto.
export const TEST_KEY_SPKI = "3059301306072a8648ce3d020106082a8648ce3d03010703420004b92a049fc195cd76f3672aef82eecbde0f227ef79907c0f77b1ac0c2e67b5bc3002f005d594d6e9dca2cb8853f4bae106e733552596ad3606b490d1452d4c0af";
export const NEW_IMAGE = { version: "0.4.0", length: 20000, seed: 7 };
export const NEW_SHA256 = "092abd67655282cc2223de176551274eb50579964f292f2228a2f579bddff305";
export const NEW_SIGNATURE = "MEYCIQCdBKXOM/bYryrma+RLkvzxigO9T84hITOeDZjcfys7TwIhAO3JA2G3/hSQkHqU1R6/zmu+qFrXjIiCLsHh15VfufeS";
/** A valid DER signature of something else under another key. */
export const OTHER_SIGNATURE = "MEQCIApmDppeo5qSFq3ihaHQC3UA0A4ZeKHhWNHSUxCqQGRRAiBeagpCguX/g4WeKPd2IzrjVxmLEW/Yuz+RJQe9Yv7d0g==";

export const OLD_VERSION = "0.3.0";
const SECTOR = 4096;
const SLOT_SECTORS = 8;
const JOB = "ota-job-1";

type Status = "QUEUED" | "IN_PROGRESS" | "SUCCEEDED" | "FAILED" | "REJECTED";

/** One job as AWS IoT Jobs keeps it, answering the device's requests. */
export class FakeJobsService {
  status: Status = "QUEUED";
  details: Record<string, string> = {};
  history: { status: string; details: Record<string, string> }[] = [];
  inbox: { topic: string; payload: string }[] = [];
  constructor(readonly thing: string, readonly jobId: string, readonly document: unknown) {}
  get terminal(): boolean {
    return this.status === "SUCCEEDED" || this.status === "FAILED" || this.status === "REJECTED";
  }
  handle(topic: string, payload: string): void {
    const prefix = `$aws/things/${this.thing}/jobs/`;
    const request = JSON.parse(payload);
    const reply = (suffix: string, body: Record<string, unknown>): void => void this.inbox.push({ topic: prefix + suffix, payload: JSON.stringify({ clientToken: request.clientToken, timestamp: 1, ...body }) });
    if (topic === `${prefix}start-next`) {
      if (this.terminal) return reply("start-next/accepted", {});
      this.status = "IN_PROGRESS";
      return reply("start-next/accepted", { execution: { jobId: this.jobId, status: this.status, statusDetails: this.details, jobDocument: this.document, versionNumber: 1, executionNumber: 1 } });
    }
    if (topic === `${prefix}${this.jobId}/update`) {
      if (this.terminal) return reply(`${this.jobId}/update/rejected`, { code: "TerminalStateReached", message: "terminal" });
      this.status = request.status;
      this.details = request.statusDetails ?? {};
      this.history.push({ status: request.status, details: this.details });
      return reply(`${this.jobId}/update/accepted`, {});
    }
    throw new Error(`unexpected publish to ${topic}`);
  }
}

export interface RigOptions {
  /** What the image server sends (default the good 0.4.0 image). */
  served?: Uint8Array;
  /** The job document's fields (default: the good image's). */
  document?: Record<string, unknown>;
  /** A self-test check that fails when this version runs. */
  selfTestFailsOn?: string;
  /** This version never reaches the broker (its self-test times out). */
  brokerUnreachableOn?: string;
  /** This version resets during its first boot, before its self-test ends. */
  resetsOn?: string;
  /** A worn cell in the update slot at this offset: it reads 0 after every program of its sector. */
  stuckCellAt?: number;
  /** Fetches that fail once, by block index. */
  failBlocks?: number[];
  /** The update slot throws from this call, as ESP-IDF's errors reach the agent on ESP32. */
  slotThrows?: "begin" | "write" | "read" | "activate";
  seed?: number;
}

export function goodDocument(image: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    operation: UPDATE_OPERATION,
    version: NEW_IMAGE.version,
    image: { url: "https://images.example/fw-0.4.0.bin", size: NEW_IMAGE.length, sha256: NEW_SHA256, signature: NEW_SIGNATURE, ...image },
  };
}

export class OtaRig {
  readonly flash: SimNorFlash;
  readonly device: SimOtaDevice;
  readonly service: FakeJobsService;
  readonly served: Uint8Array;
  readonly logs: string[] = [];
  readonly boots: BootResult[] = [];
  time = 1_000_000;
  blocksServed = 0;
  powerCuts = 0;
  agent!: OtaAgent;
  client!: JobsClient;
  #failBlocks: Set<number>;
  #options: RigOptions;

  constructor(options: RigOptions = {}) {
    this.#options = options;
    this.flash = new SimNorFlash({ byteLength: (4 + 2 * SLOT_SECTORS) * SECTOR, blockSize: SECTOR, random: random(options.seed ?? 1) });
    this.device = new SimOtaDevice(this.flash, SLOT_SECTORS);
    this.device.flashFactory(buildSimImage(OLD_VERSION, 15000, 3));
    this.served = options.served ?? buildSimImage(NEW_IMAGE.version, NEW_IMAGE.length, NEW_IMAGE.seed);
    this.service = new FakeJobsService("press-7", JOB, options.document ?? goodDocument());
    this.#failBlocks = new Set(options.failBlocks ?? []);
  }

  get running(): BootResult | undefined {
    return this.device.running;
  }

  /** Power-on: the bootloader, then the firmware's start-up; throws when nothing is bootable. */
  boot(): void {
    const result = this.device.powerOn();
    if (!result) throw new Error("bricked: no bootable image");
    this.boots.push({ ...result });
    const flash = this.flash;
    const source: BlockSource = {
      fetch: (offset, length, buffer, done) => {
        const index = offset / 4096;
        if (this.#failBlocks.delete(index)) return done("connection reset");
        this.blocksServed++;
        buffer.set(this.served.subarray(offset, offset + length));
        done(offset + length > this.served.length ? "short read" : undefined);
      },
      cancel: () => {},
    };
    this.agent = new OtaAgent({
      runningVersion: result.version,
      slot: this.#slot(result.slot),
      boot: this.device.bootControl(),
      store: new FlashRecordStore(this.device.recordFlash),
      publicKey: parsePublicKey(fromHex(TEST_KEY_SPKI)!),
      source: () => source,
      now: () => this.time,
      log: (line) => this.logs.push(line),
      persistEvery: 2,
      retryMs: 1000,
      progressEveryMs: 0,
      rebootDelayMs: 2000,
      selfTestTimeoutMs: 60_000,
    });
    this.client = new JobsClient({
      thing: "press-7",
      now: () => this.time,
      publish: (topic, payload) => {
        if (!flash.powered) throw new PowerLoss("publish");
        this.service.handle(topic, payload);
        return true;
      },
      events: this.agent,
      responseTimeoutMs: 10_000,
    });
    this.agent.attach(this.client);
    this.agent.boot();
    if (this.agent.phase === "testing" && this.#options.resetsOn === result.version) {
      this.device.rebootRequested = true; // a watchdog reset, say
      return;
    }
    if (this.agent.phase === "testing") {
      if (this.#options.selfTestFailsOn === result.version) this.agent.selfTestFailed("sensors", "sht3x did not start");
      else {
        this.agent.selfTestPassed("log");
        this.agent.selfTestPassed("sensors");
      }
    }
    if (this.device.rebootRequested) return;
    this.client.connected();
    if (this.agent.phase === "testing" && this.#options.brokerUnreachableOn !== result.version) this.agent.selfTestPassed("broker");
  }

  /** Runs until the job is over and the agent at rest; a power cut reboots (once powered again). */
  run(maxSteps = 500): void {
    let booted = false;
    for (let step = 0; step < maxSteps; step++) {
      try {
        if (!booted || this.device.rebootRequested) {
          booted = true;
          this.boot();
          continue;
        }
        while (this.service.inbox.length > 0) {
          const m = this.service.inbox.shift()!;
          this.client.receive(m.topic, m.payload);
        }
        this.agent.tick();
        this.client.tick();
        this.time += 1000;
        if (this.service.terminal && this.service.inbox.length === 0 && (this.agent.phase === "idle" || this.agent.phase === "done") && !this.device.rebootRequested) return;
      } catch (error) {
        if (!(error instanceof PowerLoss)) throw error;
        this.powerCuts++;
        this.service.inbox.length = 0; // replies to a dead device are lost
        this.flash.powerOn();
        booted = false;
      }
    }
    throw new Error(`the update did not settle in ${maxSteps} steps: job ${this.service.status}, agent ${this.agent.phase}`);
  }

  #slot(running: number) {
    const slot = this.device.updateSlot();
    const throwing = this.#options.slotThrows;
    if (throwing) {
      const fail = () => {
        throw new Error(`esp_ota_set_boot_partition: ESP_ERR_OTA_VALIDATE_FAILED (0x1503) in ${throwing}`);
      };
      return { ...slot, capacity: slot.capacity, sectorSize: slot.sectorSize, [throwing]: fail };
    }
    const stuck = this.#options.stuckCellAt;
    if (stuck === undefined) return slot;
    const region = this.device.slots[1 - running];
    return {
      ...slot,
      begin: slot.begin,
      write: (offset: number, bytes: Uint8Array, length?: number) => {
        slot.write(offset, bytes, length);
        if (stuck >= offset && stuck < offset + (length ?? bytes.length)) region.write(stuck, Uint8Array.of(0));
      },
    };
  }

  /** Flash steps (programs and erases) so far. */
  get flashSteps(): number {
    return this.flash.stats.programs + this.flash.stats.erases;
  }
}
