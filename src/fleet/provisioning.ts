// Getting a new identity from AWS IoT over MQTT: fleet provisioning by claim (the first one, over a
// connection with the claim certificate) and rotation (a later one, over the device's own
// connection). Both run the same steps, each one durable in the IdentityStore before the next:
//
//   1. CreateKeysAndCertificate ($aws/certificates/create/json), or CreateCertificateFromCsr
//      ($aws/certificates/create-from-csr/json) where the platform makes a key pair and CSR;
//      the certificate, key, ownership token and certificate id go into the spare slot.
//   2. RegisterThing ($aws/provisioning-templates/<template>/provision/json) with the token;
//      on accepted the slot is marked registered.
//   3. A trial connection with the new identity; on CONNACK the slot is committed: the switch.
//
// After a power cut the machine starts again from what the store holds: a registered identity is
// tried, an unregistered one whose token is still young is registered, anything else starts over.
// Once the store holds a committed identity, provisioning by claim never connects with the claim
// again. Requests wait for their response topics to be subscribed first (AWS answers only on the
// same connection, and only to subscribers). Pure: the connection and timers are passed in.

import { IdentityStore, type Candidate, type Identity } from "./identity-store";
import { isPlainObject, parseBoundedJson } from "./bounded-json";
import { DerError, pemToDer, rsaKeyToPkcs8 } from "./der";

/** What a connection is opened with: the claim (a resource in the firmware) or a stored identity. */
export type Credentials = { kind: "claim" } | { kind: "identity"; identity: Identity };

/** One MQTT connection at a time, opened by the platform; the machine is told what happened. */
export interface ProvisioningLink {
  open(credentials: Credentials, clientId: string): void;
  subscribe(filters: string[]): void;
  publish(topic: string, payload: string): void;
  close(): void;
}

/** Where the platform can make a key pair and a CSR for it (none on ESP32 with SDK 8.2.3). */
export interface KeyMaker {
  /** A new RSA key (PKCS#8 DER, kept secret) and a PEM CSR for it. */
  make(): { key: Uint8Array; csrPem: string };
}

export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(timer: unknown): void;
}

export type Phase =
  | "idle" | "connecting" | "subscribing" | "creating" | "registering" | "trying" | "waiting" | "done" | "failed";

export interface ProvisioningOptions {
  store: IdentityStore;
  link: ProvisioningLink;
  timers: Timers;
  /** "claim": first identity over the claim connection; "rotate": a new one over the device's own. */
  mode: "claim" | "rotate";
  thingName: string;
  templateName: string;
  /** Template parameters besides ThingName (e.g. Site, Building, Line). */
  parameters: Record<string, string>;
  keyMaker?: KeyMaker;
  /** Client id of claim connections; the claim policy allows only its prefix ("claim-"). */
  claimClientId?: string;
  /** Seconds since 1970 (ownership tokens expire after an hour). */
  nowSeconds(): number;
  /** A wait before retrying after the given number of failures running. */
  retryDelayMs(failures: number): number;
  responseTimeoutMs?: number;
  /** Trial connections that fail, at most, before the new identity is given up (rotation keeps the old). */
  maxTrials?: number;
  /** Rotation: failures of the whole flow, at most, before it stops and reports. */
  maxAttempts?: number;
  report(line: string): void;
  /** The new identity is active (committed); for a rotation, the certificate id it replaced is confirmed. */
  onDone?(identity: Identity, certificateId: string): void;
  /** A rotation gave up; the old identity stays. */
  onFailed?(why: string): void;
}

/** Tokens are valid for an hour; one older than this is not worth a RegisterThing. */
export const TOKEN_LIFETIME_S = 50 * 60;
/** Largest response accepted (certificate, key and token as PEM and JSON, about 5 KB from AWS). */
export const MAX_RESPONSE_BYTES = 12 * 1024;

const CREATE = "$aws/certificates/create/json";
const CREATE_FROM_CSR = "$aws/certificates/create-from-csr/json";

export class ProvisioningMachine {
  readonly #o: ProvisioningOptions;
  #phase: Phase = "idle";
  #timer: unknown;
  #failures = 0;
  #trialFailures = 0;
  #attempts = 0;
  #pendingKey: Uint8Array | undefined;
  #lastError = "";

  constructor(options: ProvisioningOptions) {
    this.#o = options;
  }

  get phase(): Phase {
    return this.#phase;
  }

  get lastError(): string {
    return this.#lastError;
  }

  get #provisionTopic(): string {
    return `$aws/provisioning-templates/${this.#o.templateName}/provision/json`;
  }

  get #createTopic(): string {
    return this.#o.keyMaker ? CREATE_FROM_CSR : CREATE;
  }

  /** Decides from the store what to do next; call at boot and after every wait. */
  start(): void {
    this.#clearTimer();
    const { store } = this.#o;
    const candidate = store.candidate();
    if (this.#o.mode === "claim" && !candidate && store.active()) {
      this.#phase = "done";
      return; // provisioned before: the claim is never used again
    }
    if (candidate?.registered) {
      this.#try(candidate);
      return;
    }
    this.#attempts++;
    this.#phase = "connecting";
    this.#o.link.open(this.#issuerCredentials(), this.#issuerClientId());
    this.#arm();
  }

  #issuerCredentials(): Credentials {
    if (this.#o.mode === "claim") return { kind: "claim" };
    const active = this.#o.store.active();
    if (!active) throw new Error("rotation needs an active identity");
    return { kind: "identity", identity: active };
  }

  #issuerClientId(): string {
    return this.#o.mode === "claim" ? (this.#o.claimClientId ?? `claim-${this.#o.thingName}`) : this.#o.thingName;
  }

  /** The link's connection is up (CONNACK). */
  onConnected(): void {
    this.#clearTimer();
    if (this.#phase === "trying") {
      const candidate = this.#o.store.candidate();
      if (!candidate) return this.#retry("the new identity vanished before its trial");
      this.#o.store.commit();
      this.#o.link.close();
      this.#phase = "done";
      this.#failures = 0;
      this.#o.report(`identity: generation ${candidate.generation} (certificate ${candidate.certificateId.slice(0, 12)}) is now the device's identity`);
      this.#o.onDone?.({ generation: candidate.generation, certificate: candidate.certificate, key: candidate.key }, candidate.certificateId);
      return;
    }
    if (this.#phase !== "connecting") return;
    this.#phase = "subscribing";
    const topics = [this.#createTopic, this.#provisionTopic];
    this.#o.link.subscribe(topics.flatMap((t) => [`${t}/accepted`, `${t}/rejected`]));
    this.#arm();
  }

  /** The link's subscriptions are acknowledged (SUBACK). */
  onSubscribed(): void {
    if (this.#phase !== "subscribing") return;
    this.#clearTimer();
    const candidate = this.#o.store.candidate();
    // A token from before a power cut is used while it is young; otherwise a new certificate.
    if (candidate && !candidate.registered && candidate.token !== "" && this.#o.nowSeconds() - candidate.createdAt < TOKEN_LIFETIME_S) {
      this.#register(candidate);
      return;
    }
    this.#phase = "creating";
    let request = "{}";
    if (this.#o.keyMaker) {
      try {
        const made = this.#o.keyMaker.make();
        this.#pendingKey = made.key;
        request = JSON.stringify({ certificateSigningRequest: made.csrPem });
      } catch (error) {
        return this.#retry(`cannot make a key and CSR: ${messageOf(error)}`);
      }
    }
    this.#o.link.publish(this.#createTopic, request);
    this.#arm();
  }

  #register(candidate: Candidate): void {
    this.#phase = "registering";
    const parameters = { ...this.#o.parameters, ThingName: this.#o.thingName };
    this.#o.link.publish(this.#provisionTopic, JSON.stringify({ certificateOwnershipToken: candidate.token, parameters }));
    this.#arm();
  }

  /** A message on the link (only the provisioning topics matter). */
  onMessage(topic: string, payload: Uint8Array): void {
    try {
      this.#onMessage(topic, payload);
    } catch (error) {
      // The store's flash may throw (a power cut in tests): that must reach the caller.
      if (isPowerLoss(error)) throw error;
      this.#retry(`bad response on ${topic}: ${messageOf(error)}`);
    }
  }

  #onMessage(topic: string, payload: Uint8Array): void {
    const create = this.#createTopic;
    const provision = this.#provisionTopic;
    if (topic !== `${create}/accepted` && topic !== `${create}/rejected` && topic !== `${provision}/accepted` && topic !== `${provision}/rejected`) return;
    const parsed = parseBoundedJson(payload, { maxBytes: MAX_RESPONSE_BYTES, maxDepth: 4 });
    if (!parsed.ok || !isPlainObject(parsed.value)) throw new Error(parsed.ok ? "not a JSON object" : parsed.message);
    const body = parsed.value;
    if (topic === `${create}/rejected` || topic === `${provision}/rejected`) {
      const what = `${String(body.statusCode ?? "?")} ${String(body.errorCode ?? "")} ${String(body.errorMessage ?? "").slice(0, 120)}`.trim();
      if (topic.startsWith(provision) && this.#phase === "registering") {
        // Perhaps registered already before a power cut (the marker was not written): try it.
        const candidate = this.#o.store.candidate();
        this.#o.report(`identity: RegisterThing rejected (${what}); trying the new certificate anyway`);
        if (candidate) return this.#try(candidate);
      }
      return this.#retry(`${topic.startsWith(provision) ? "RegisterThing" : "certificate creation"} rejected: ${what}`);
    }
    if (topic === `${create}/accepted`) {
      if (this.#phase !== "creating") return; // a late or repeated answer
      const { certificateId, certificatePem, privateKey, certificateOwnershipToken } = body;
      if (typeof certificateId !== "string" || typeof certificatePem !== "string" || typeof certificateOwnershipToken !== "string") throw new Error("certificate response lacks a field");
      const certificate = pemToDer(certificatePem, "CERTIFICATE");
      let key: Uint8Array;
      if (this.#o.keyMaker) {
        if (!this.#pendingKey) throw new Error("no key waiting for this certificate");
        key = this.#pendingKey;
      } else {
        if (typeof privateKey !== "string") throw new Error("certificate response lacks the private key");
        key = rsaKeyToPkcs8(privateKey);
      }
      this.#pendingKey = undefined;
      this.#o.store.writeCandidate({ certificate, key, token: certificateOwnershipToken, certificateId, createdAt: this.#o.nowSeconds() });
      const candidate = this.#o.store.candidate();
      if (!candidate) throw new Error("the new identity did not read back");
      this.#clearTimer();
      this.#register(candidate);
      return;
    }
    // provision accepted
    if (this.#phase !== "registering") return;
    if (body.thingName !== undefined && body.thingName !== this.#o.thingName) throw new Error(`registered as ${String(body.thingName)}, not ${this.#o.thingName}`);
    this.#o.store.markRegistered();
    const candidate = this.#o.store.candidate();
    if (!candidate) throw new Error("the new identity did not read back");
    this.#try(candidate);
  }

  /** Closes whatever is open and connects with the new identity as the thing. */
  #try(candidate: Candidate): void {
    this.#clearTimer();
    this.#o.link.close();
    this.#phase = "trying";
    this.#o.link.open({ kind: "identity", identity: candidate }, this.#o.thingName);
    this.#arm();
  }

  /** The link's connection ended (or never came up). */
  onClosed(reason: string): void {
    if (this.#phase === "done" || this.#phase === "waiting" || this.#phase === "failed" || this.#phase === "idle") return;
    if (this.#phase === "trying") {
      this.#trialFailures++;
      if (this.#trialFailures >= (this.#o.maxTrials ?? 3)) {
        this.#trialFailures = 0;
        this.#o.report(`identity: the new certificate was refused ${this.#o.maxTrials ?? 3} times (${reason}); discarding it`);
        this.#o.store.discardCandidate();
        if (this.#o.mode === "rotate") return this.#fail(`the new certificate was refused: ${reason}`);
      }
      return this.#retry(`trial connection with the new identity failed: ${reason}`);
    }
    this.#retry(`connection closed: ${reason}`);
  }

  #retry(why: string): void {
    this.#clearTimer();
    this.#lastError = why;
    this.#o.link.close();
    this.#failures++;
    if (this.#o.mode === "rotate" && this.#attempts >= (this.#o.maxAttempts ?? 5)) return this.#fail(why);
    this.#phase = "waiting";
    const delay = this.#o.retryDelayMs(this.#failures);
    this.#o.report(`identity: ${why}; retrying in ${delay} ms`);
    this.#timer = this.#o.timers.set(() => {
      this.#timer = undefined;
      this.start();
    }, delay);
  }

  /** Rotation only: stop and keep the current identity. */
  #fail(why: string): void {
    this.#clearTimer();
    this.#lastError = why;
    this.#o.link.close();
    this.#phase = "failed";
    this.#o.report(`identity: rotation failed (${why}); keeping the current identity`);
    this.#o.onFailed?.(why);
  }

  #arm(): void {
    this.#clearTimer();
    const phase = this.#phase;
    this.#timer = this.#o.timers.set(() => {
      this.#timer = undefined;
      if (this.#phase === phase) {
        if (phase === "trying") this.onClosed("no CONNACK in time");
        else this.#retry(`no answer while ${phase}`);
      }
    }, this.#o.responseTimeoutMs ?? 30_000);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#o.timers.clear(this.#timer);
    this.#timer = undefined;
  }

  /** Stops everything (the node is stopping). */
  stop(): void {
    this.#clearTimer();
    this.#o.link.close();
    if (this.#phase !== "done") this.#phase = "idle";
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isPowerLoss(error: unknown): boolean {
  return error instanceof Error && error.name === "PowerLoss";
}

export { DerError };
