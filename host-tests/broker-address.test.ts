// The firmware on the host target reaching its broker by host name (looked up through the SDK's
// Net.resolve, here host/moddable/net.ts) and on port 443 with AWS IoT's ALPN protocol, against the
// embedded broker over real mutual TLS. The tests answer DNS themselves through hostDns: a name
// that resolves, one that fails and one that never answers.

import { test, expect, beforeAll, afterAll, onTestFinished } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker, type EmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { hostDns } from "../host/moddable/net.ts";
import { devPki, type Pki } from "./support/pki.ts";
import { stopWhenFinished } from "./support/stop-when-finished.ts";
import { until } from "./support/until.ts";

const THING = "press-7";
const NAME = "broker.iiot.test";
let pki: Pki;
let firmwareLog: string[] = [];
let brokerLog: string[] = [];
const realLookup = hostDns.lookup;

/** What DNS does for NAME: answer with an address, say not found, or never answer. */
let dns: "answer" | "fail" | "hang" = "answer";
let lookups = 0;

beforeAll(() => {
  pki = devPki(THING);
  traceSink.write = (text) => void firmwareLog.push(text);
  hostDns.lookup = (host, callback) => {
    if (host !== NAME) return realLookup(host, callback);
    lookups++;
    if (dns === "answer") setTimeout(() => callback(null, "127.0.0.1"), 1);
    else if (dns === "fail") setTimeout(() => callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" })), 1);
  };
});
afterAll(() => {
  hostDns.lookup = realLookup;
  traceSink.write = (text) => void process.stdout.write(text);
});

async function broker(options: { port?: number; alpn?: string } = {}): Promise<EmbeddedBroker> {
  firmwareLog = [];
  brokerLog = [];
  dns = "answer";
  lookups = 0;
  const b = await startEmbeddedBroker({ certsDir: pki.dir, ...options, log: (line) => void brokerLog.push(line) });
  onTestFinished(() => b.close());
  return b;
}

async function boot(config: Record<string, unknown>, state = mkdtempSync(join(tmpdir(), "iiot-dns-"))) {
  return stopWhenFinished(await bootFirmware({
    config: {
      thing: THING, topic_root: `iiot-test/${THING}/`, sample_ms: 200, flush_ms: 400, startup_jitter_ms: 0,
      backoff_base_ms: 100, backoff_cap_ms: 1000, dns_timeout_ms: 500, ...config,
    },
    resources: pki.resources(THING),
    state,
  }));
}

const logged = () => firmwareLog.join("");

test("a broker given by host name is looked up and reached; the TLS server name defaults to that name", async () => {
  const b = await broker();
  // The broker's certificate names localhost: with the server name defaulting to NAME, TLS refuses it.
  const mismatched = await boot({ broker_host: NAME, broker_port: b.port });
  await until(() => mismatched.stats.lastError !== "" && lookups >= 1, "a connect refused over the certificate's name");
  expect((await mismatched.stop(0)).connects, logged()).toBe(0);
  expect(logged()).toMatch(new RegExp(`broker ${NAME.replaceAll(".", "\\.")}:${b.port} \\(TLS server name ${NAME.replaceAll(".", "\\.")}\\)`));

  const node = await boot({ broker_host: NAME, broker_name: "localhost", broker_port: b.port });
  await until(() => node.stats.readingsAcknowledged >= 5, "5 readings acknowledged");
  const stats = await node.stop(5000);
  expect(stats.readingsAcknowledged, logged()).toBe(stats.sampled);
  expect(lookups, "the name was looked up").toBeGreaterThanOrEqual(1);
  expect(logged()).toContain(`connected to 127.0.0.1 as ${THING}`);
});

test("port 443 offers ALPN x-amzn-mqtt-ca; a broker that requires it takes the node and refuses a client without it", async () => {
  // As root (CI and this machine), 443 itself; AWS IoT Core takes MQTT there only with this ALPN value.
  const b = await broker({ port: 443, alpn: "x-amzn-mqtt-ca" });
  const refused = await boot({ broker_host: NAME, broker_name: "localhost", broker_port: 443, broker_alpn: "none" });
  await until(() => brokerLog.some((l) => l.includes("did not offer ALPN x-amzn-mqtt-ca")) && refused.stats.lastError !== "", "the broker refusing a client without ALPN");
  expect((await refused.stop(0)).connects).toBe(0);
  expect(refused.stats.lastError).toMatch(/^connect to 127\.0\.0\.1 failed: /);

  const node = await boot({ broker_host: NAME, broker_name: "localhost", broker_port: 443 });
  await until(() => node.stats.readingsAcknowledged >= 5, "5 readings acknowledged over 443");
  const stats = await node.stop(5000);
  expect(stats.readingsAcknowledged, logged()).toBe(stats.sampled);
  expect(logged()).toContain(`broker ${NAME}:443 (TLS server name localhost, ALPN x-amzn-mqtt-ca)`);
});

test("a failed lookup is a failed connect: reported, retried with backoff, and nothing is lost once DNS is back", async () => {
  const b = await broker();
  dns = "fail";
  const node = await boot({ broker_host: NAME, broker_name: "localhost", broker_port: b.port });
  await until(() => lookups >= 2 && node.stats.sampled >= 3, "two failed lookups");
  expect(logged()).toMatch(new RegExp(`dns: ${NAME.replaceAll(".", "\\.")} not found; retrying in \\d+ ms`));
  expect(logged()).not.toContain("connection lost");
  expect(node.stats.connects).toBe(0);
  dns = "answer";
  await until(() => node.stats.connects === 1 && node.stats.readingsAcknowledged >= node.stats.sampled - 1, "delivery once DNS answers");
  const stats = await node.stop(5000);
  expect(stats.readingsAcknowledged, logged()).toBe(stats.sampled);
});

test("a lookup that never answers times out; the address that worked before, kept across a restart, is used instead", async () => {
  const b = await broker();
  const state = mkdtempSync(join(tmpdir(), "iiot-dns-"));
  const config = { broker_host: NAME, broker_name: "localhost", broker_port: b.port };
  const first = await boot(config, state);
  await until(() => first.stats.connects === 1, "the first boot connected");
  await first.stop(5000);

  // Without a remembered address a hanging lookup fails the connect after dns_timeout_ms.
  dns = "hang";
  const fresh = await boot(config);
  await until(() => /timed out after 500 ms; retrying/.test(logged()), "a lookup timing out");
  expect((await fresh.stop(0)).connects).toBe(0);

  // The same device after a restart: DNS still hangs, the kept address serves.
  const again = await boot(config, state);
  await until(() => again.stats.connects === 1 && again.stats.readingsAcknowledged >= 3, "a connect through the kept address");
  const stats = await again.stop(5000);
  expect(stats.readingsAcknowledged, logged()).toBe(stats.sampled);
  expect(logged()).toContain(`dns: lookup of ${NAME} timed out after 500 ms; using 127.0.0.1, which worked before`);
});
