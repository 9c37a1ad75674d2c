// The identity store and the provisioning machine against a fake of AWS's provisioning topics:
// provisioning by claim and rotation run to the end, refusals and silence are retried, and a power
// cut at every flash step ends with exactly one working identity (and the claim never used again
// once the device had its own).

import { test, equal, deepEqual, assert, throws, random } from "./api";
import { IdentityStore, IdentityStoreError } from "../../src/fleet/identity-store";
import { ProvisioningMachine, type Credentials, type KeyMaker } from "../../src/fleet/provisioning";
import { SimNorFlash, PowerLoss } from "../../sim/nor-flash";
import { utf8Encode } from "../../src/util/utf8";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
function base64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=") + (i + 2 < bytes.length ? B64[n & 63] : "=");
  }
  return out.replace(/(.{64})/g, "$1\n");
}
const pem = (label: string, der: Uint8Array) => `-----BEGIN ${label}-----\n${base64(der)}\n-----END ${label}-----\n`;

/** A DER SEQUENCE of n bytes of content, marked with a serial: stands for a certificate or key. */
function fakeDer(serial: number, kind: number, n = 700): Uint8Array {
  const der = new Uint8Array(4 + n);
  der.set([0x30, 0x82, n >> 8, n & 0xff]);
  for (let i = 4; i < der.length; i++) der[i] = (serial * 131 + i * kind) & 0xff;
  der[4] = kind;
  der[5] = serial & 0xff;
  der[6] = serial >> 8;
  return der;
}
const serialOf = (der: Uint8Array) => der[5] | (der[6] << 8);
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

const TEMPLATE = "iiot-fleet";
const THING = "press-7";

/**
 * AWS's side: certificates it issued (serial -> key), those RegisterThing activated for the thing,
 * and who connected with what. Optional misbehaviour for the tests.
 */
class FakeAws {
  issued = new Map<number, { key: Uint8Array; token: string; registered: boolean }>();
  next = 1;
  opens: { credentials: string; clientId: string; ok: boolean }[] = [];
  rejectCreate = 0;
  rejectRegister = 0;
  silent = 0;
  refuseTrials = 0;
  connected = new Set<number>();
  /** Certificates the device confirmed (rotation): AWS may deactivate the others. */
  works(certificate: Uint8Array, key: Uint8Array): boolean {
    const issued = this.issued.get(serialOf(certificate));
    return !!issued && issued.registered && (same(issued.key, key) || same(pkcs8Of(issued.key), key)) && same(fakeDer(serialOf(certificate), 1), certificate);
  }
}

class FakeLink {
  events: (() => void)[] = [];
  open = false;
  credentials: Credentials | undefined;
  machine!: ProvisioningMachine;
  constructor(readonly aws: FakeAws, readonly initial?: { certificate: Uint8Array; key: Uint8Array }) {}

  openLink(credentials: Credentials, clientId: string): void {
    this.open = true;
    this.credentials = credentials;
    const label = credentials.kind === "claim" ? "claim" : `cert ${serialOf(credentials.identity.certificate)}`;
    let ok = credentials.kind === "claim" ? clientId.startsWith("claim-") : this.aws.works(credentials.identity.certificate, credentials.identity.key) || (!!this.initial && same(credentials.identity.certificate, this.initial.certificate));
    // A trial is the first connection with a certificate: only those are refused.
    const serial = credentials.kind === "identity" ? serialOf(credentials.identity.certificate) : -1;
    if (ok && serial >= 0 && this.aws.refuseTrials > 0 && !this.aws.connected.has(serial)) {
      this.aws.refuseTrials--;
      ok = false;
    }
    if (ok && serial >= 0) this.aws.connected.add(serial);
    this.aws.opens.push({ credentials: label, clientId, ok });
    this.events.push(() => (ok ? this.machine.onConnected() : this.machine.onClosed("TLS alert: certificate unknown")));
  }

  subscribe(filters: string[]): void {
    assert(this.open, "subscribe on a closed link");
    assert(filters.every((f) => f.startsWith("$aws/")), "only provisioning topics");
    this.events.push(() => this.machine.onSubscribed());
  }

  publish(topic: string, payload: string): void {
    assert(this.open, "publish on a closed link");
    const aws = this.aws;
    if (aws.silent > 0) {
      aws.silent--;
      return;
    }
    const request = JSON.parse(payload);
    const reply = (t: string, body: unknown): void => {
      this.events.push(() => this.open && this.machine.onMessage(t, utf8Encode(JSON.stringify(body))));
    };
    if (topic === "$aws/certificates/create/json" || topic === "$aws/certificates/create-from-csr/json") {
      if (aws.rejectCreate > 0) {
        aws.rejectCreate--;
        return reply(`${topic}/rejected`, { statusCode: 500, errorCode: "InternalFailure", errorMessage: "try again" });
      }
      const serial = aws.next++;
      const fromCsr = topic.includes("csr");
      const key = fromCsr ? fakeKeyFromCsr(request.certificateSigningRequest) : fakeDer(serial, 2, 600);
      const token = `token-${serial}-${"t".repeat(400)}`;
      aws.issued.set(serial, { key, token, registered: false });
      return reply(`${topic}/accepted`, {
        certificateId: `${serial.toString(16).padStart(64, "0")}`,
        certificatePem: pem("CERTIFICATE", fakeDer(serial, 1)),
        ...(!fromCsr && { privateKey: pem("RSA PRIVATE KEY", key) }),
        certificateOwnershipToken: token,
      });
    }
    if (topic === `$aws/provisioning-templates/${TEMPLATE}/provision/json`) {
      if (aws.rejectRegister > 0) {
        aws.rejectRegister--;
        return reply(`${topic}/rejected`, { statusCode: 400, errorCode: "InvalidParameters", errorMessage: "no" });
      }
      const entry = [...aws.issued.values()].find((e) => e.token === request.certificateOwnershipToken);
      if (!entry || request.parameters?.ThingName !== THING) return reply(`${topic}/rejected`, { statusCode: 400, errorCode: "InvalidToken" });
      entry.registered = true;
      return reply(`${topic}/accepted`, { deviceConfiguration: {}, thingName: THING });
    }
  }

  close(): void {
    this.open = false;
  }
}

/** The CSR stands for the key the device made: the fake embeds the key's serial in it. */
function fakeKeyFromCsr(csr: string): Uint8Array {
  const serial = Number(/serial=(\d+)/.exec(csr)![1]);
  return fakeDer(serial, 3, 600);
}

class ManualTimers {
  now = 0;
  pending: { at: number; cb: () => void; id: number }[] = [];
  #id = 0;
  set = (cb: () => void, ms: number) => {
    const t = { at: this.now + ms, cb, id: ++this.#id };
    this.pending.push(t);
    return t.id;
  };
  clear = (id: unknown) => {
    this.pending = this.pending.filter((t) => t.id !== id);
  };
  /** Runs the earliest timer; false when none is armed. */
  fire(): boolean {
    if (this.pending.length === 0) return false;
    this.pending.sort((a, b) => a.at - b.at);
    const t = this.pending.shift()!;
    this.now = t.at;
    t.cb();
    return true;
  }
}

function pkcs8Of(pkcs1: Uint8Array): Uint8Array {
  // what rsaKeyToPkcs8 makes: version 0, rsaEncryption, the PKCS#1 key in an OCTET STRING
  const inner = [0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x04, 0x82, pkcs1.length >> 8, pkcs1.length & 0xff];
  const length = inner.length + pkcs1.length;
  return Uint8Array.from([0x30, 0x82, length >> 8, length & 0xff, ...inner, ...pkcs1]);
}

interface RunOptions {
  mode: "claim" | "rotate";
  keyMaker?: KeyMaker;
  initial?: { certificate: Uint8Array; key: Uint8Array };
  maxSteps?: number;
}

/** Runs a machine over the flash until it is done, failed, or the flash loses power (throws PowerLoss). */
function runMachine(flash: SimNorFlash, aws: FakeAws, timers: ManualTimers, options: RunOptions, log: string[] = []) {
  const store = new IdentityStore(flash);
  const link = new FakeLink(aws, options.initial);
  const machine = new ProvisioningMachine({
    store, timers, mode: options.mode, thingName: THING, templateName: TEMPLATE,
    parameters: { Site: "chicago", Building: "building-a", Line: "line-3" },
    link: { open: (c, id) => link.openLink(c, id), subscribe: (f) => link.subscribe(f), publish: (t, p) => link.publish(t, p), close: () => link.close() },
    nowSeconds: () => 1_800_000_000 + Math.floor(timers.now / 1000),
    retryDelayMs: (n) => Math.min(60_000, 1000 * 2 ** n),
    responseTimeoutMs: 10_000,
    report: (line) => log.push(line),
    ...(options.keyMaker && { keyMaker: options.keyMaker }),
  });
  link.machine = machine;
  machine.start();
  for (let steps = 0; steps < (options.maxSteps ?? 500); steps++) {
    const event = link.events.shift();
    if (event) event();
    else if (machine.phase === "done" || machine.phase === "failed") break;
    else if (!timers.fire()) break;
  }
  timers.pending = [];
  return { machine, store };
}

const flashFor = (seed: number) => new SimNorFlash({ byteLength: 2 * 4096, blockSize: 4096, random: random(seed) });

test("identity store: nothing until a committed identity, then the newest committed wins", () => {
  const flash = flashFor(1);
  const store = new IdentityStore(flash);
  equal(store.active(), undefined);
  equal(store.candidate(), undefined);
  const cert = fakeDer(1, 1), key = fakeDer(1, 2);
  equal(store.writeCandidate({ certificate: cert, key, token: "tok", certificateId: "abc", createdAt: 5 }), 1);
  equal(store.active(), undefined, "written but not committed");
  const c = store.candidate()!;
  deepEqual([c.generation, c.token, c.certificateId, c.createdAt, c.registered], [1, "tok", "abc", 5, false]);
  store.markRegistered();
  equal(store.candidate()!.registered, true);
  store.commit();
  equal(store.candidate(), undefined);
  deepEqual(store.active(), { generation: 1, certificate: cert, key });
  // A second identity beside it: the first stays active until the commit.
  store.writeCandidate({ certificate: fakeDer(2, 1), key: fakeDer(2, 2) });
  equal(store.active()!.generation, 1);
  equal(store.candidate()!.generation, 2);
  store.discardCandidate();
  equal(store.candidate(), undefined);
  equal(store.active()!.generation, 1);
  store.writeCandidate({ certificate: fakeDer(3, 1), key: fakeDer(3, 2) });
  store.commit();
  equal(serialOf(new IdentityStore(flash).active()!.certificate), 3, "after a remount");
  // The third goes where the first was, never over the active one.
  store.writeCandidate({ certificate: fakeDer(4, 1), key: fakeDer(4, 2) });
  equal(serialOf(store.active()!.certificate), 3);
  throws(() => store.writeCandidate({ certificate: new Uint8Array(3000), key: new Uint8Array(2000) }), IdentityStoreError, /does not fit/);
  throws(() => store.writeCandidate({ certificate: cert, key, token: "é" }), IdentityStoreError);
});

test("identity store: a corrupted slot is not an identity", () => {
  const flash = flashFor(2);
  const store = new IdentityStore(flash);
  store.writeCandidate({ certificate: fakeDer(1, 1), key: fakeDer(1, 2) });
  store.commit();
  flash.write(100, Uint8Array.of(0)); // one bit flipped in the certificate
  equal(store.active(), undefined);
});

test("provisioning by claim: create, register, trial, commit; the claim is not used again", () => {
  const aws = new FakeAws();
  const flash = flashFor(3);
  const timers = new ManualTimers();
  const { machine, store } = runMachine(flash, aws, timers, { mode: "claim" });
  equal(machine.phase, "done");
  const active = store.active()!;
  assert(aws.works(active.certificate, active.key), "AWS knows it");
  equal(serialOf(active.certificate), 1);
  deepEqual(active.key, pkcs8Of(fakeDer(1, 2, 600)), "the PKCS#1 key from AWS stored as PKCS#8");
  deepEqual(aws.opens.map((o) => [o.credentials, o.clientId]), [["claim", "claim-press-7"], ["cert 1", "press-7"]]);
  // A later boot: nothing to do, no connection at all.
  const again = runMachine(flash, aws, timers, { mode: "claim" });
  equal(again.machine.phase, "done");
  equal(aws.opens.length, 2);
});

test("provisioning: refusals, silence and a refused trial are retried with backoff", () => {
  const aws = new FakeAws();
  aws.rejectCreate = 2;
  aws.silent = 1;
  aws.rejectRegister = 1;
  aws.refuseTrials = 1;
  const log: string[] = [];
  const { machine, store } = runMachine(flashFor(4), aws, new ManualTimers(), { mode: "claim" }, log);
  equal(machine.phase, "done", log.join("\n"));
  assert(store.active() !== undefined, "an identity");
  assert(log.some((l) => /certificate creation rejected: 500 InternalFailure/.test(l)), log.join("\n"));
  assert(log.some((l) => /no answer while creating/.test(l)), log.join("\n"));
  assert(log.some((l) => /RegisterThing rejected/.test(l)), log.join("\n"));
  assert(log.some((l) => /trial connection with the new identity failed/.test(l)), log.join("\n"));
});

test("rotation: a new identity beside the old, switched only after its trial; a refused one is discarded and the old kept", () => {
  const aws = new FakeAws();
  const flash = flashFor(5);
  const timers = new ManualTimers();
  runMachine(flash, aws, timers, { mode: "claim" });
  const first = new IdentityStore(flash).active()!;
  const rotated = runMachine(flash, aws, timers, { mode: "rotate" });
  equal(rotated.machine.phase, "done");
  const second = rotated.store.active()!;
  equal(second.generation, first.generation + 1);
  equal(aws.opens.at(-2)!.credentials, `cert ${serialOf(first.certificate)}`, "the rotation asked over the device's own connection");
  // AWS refuses every trial: the new one is dropped after three, the current one stays.
  aws.refuseTrials = 1000;
  const log: string[] = [];
  const failing = runMachine(flash, aws, timers, { mode: "rotate" }, log);
  equal(failing.machine.phase, "failed", log.join("\n"));
  deepEqual(failing.store.active(), second);
  equal(failing.store.candidate(), undefined);
  assert(/the new certificate was refused: TLS alert/.test(failing.machine.lastError), failing.machine.lastError);
});

test("rotation with a key made on the device: CreateCertificateFromCsr, the key never leaves", () => {
  const aws = new FakeAws();
  const flash = flashFor(6);
  const timers = new ManualTimers();
  runMachine(flash, aws, timers, { mode: "claim" });
  let made = 0;
  const keyMaker: KeyMaker = { make: () => ({ key: fakeDer(aws.next, 3, 600), csrPem: `CSR serial=${aws.next} #${++made}` }) };
  const { machine, store } = runMachine(flash, aws, timers, { mode: "rotate", keyMaker });
  equal(machine.phase, "done");
  deepEqual(store.active()!.key, fakeDer(2, 3, 600));
  equal(made, 1);
});

/** Every step of one flow with the power cut there: after each cut, exactly one working identity or (claim, before the first commit) none. */
function powerCutTrials(mode: "claim" | "rotate", seed: number): { trials: number; failures: string[] } {
  const failures: string[] = [];
  // Count the flash steps of an uninterrupted run first.
  const base = (() => {
    const aws = new FakeAws();
    const flash = flashFor(seed);
    const timers = new ManualTimers();
    if (mode === "rotate") runMachine(flash, aws, timers, { mode: "claim" });
    const before = flash.stats.programs + flash.stats.erases;
    runMachine(flash, aws, timers, { mode });
    return flash.stats.programs + flash.stats.erases - before;
  })();
  let trials = 0;
  for (let cut = 1; cut <= base; cut++) {
    const aws = new FakeAws();
    const flash = flashFor(seed + cut);
    const timers = new ManualTimers();
    if (mode === "rotate") runMachine(flash, aws, timers, { mode: "claim" });
    const old = new IdentityStore(flash).active();
    flash.cutAfter(cut);
    let cutHappened = false;
    try {
      runMachine(flash, aws, timers, { mode });
    } catch (error) {
      if (!(error instanceof PowerLoss)) throw error;
      cutHappened = true;
    }
    if (!cutHappened) {
      failures.push(`cut ${cut}: no power cut happened`);
      continue;
    }
    trials++;
    flash.powerOn();
    const afterCut = new IdentityStore(flash).active();
    if (mode === "rotate") {
      // The old identity or the new one, never none.
      if (!afterCut) failures.push(`cut ${cut}: no identity right after the cut`);
    }
    if (afterCut) {
      const works = aws.works(afterCut.certificate, afterCut.key) || (old !== undefined && same(afterCut.certificate, old.certificate));
      if (!works) failures.push(`cut ${cut}: the identity after the cut does not work`);
    }
    const claimOpensBefore = aws.opens.filter((o) => o.credentials === "claim").length;
    const hadIdentity = afterCut !== undefined;
    const { machine, store } = runMachine(flash, aws, timers, { mode });
    const final = store.active();
    if (machine.phase !== "done") failures.push(`cut ${cut}: ended ${machine.phase} (${machine.lastError})`);
    if (!final || !aws.works(final.certificate, final.key)) failures.push(`cut ${cut}: no working identity at the end`);
    if (store.candidate() !== undefined) failures.push(`cut ${cut}: a second identity left waiting`);
    if (mode === "claim" && hadIdentity && aws.opens.filter((o) => o.credentials === "claim").length > claimOpensBefore) failures.push(`cut ${cut}: the claim was used after the device had its own identity`);
    if (mode === "rotate" && final && old && final.generation !== old.generation + 1) failures.push(`cut ${cut}: generation ${final.generation} after ${old.generation}`);
  }
  return { trials, failures };
}

test("provisioning by claim: a power cut at every flash step ends with exactly one working identity", () => {
  const { trials, failures } = powerCutTrials("claim", 100);
  assert(trials >= 4, `only ${trials} steps`);
  deepEqual(failures, []);
});

test("rotation: a power cut at every flash step ends with exactly one working identity, never none", () => {
  const { trials, failures } = powerCutTrials("rotate", 200);
  assert(trials >= 4, `only ${trials} steps`);
  deepEqual(failures, []);
});
