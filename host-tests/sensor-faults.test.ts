// The firmware on the host target with every simulated chip faulted at once and then healed: the node
// never stops sampling, every faulted reading arrives as bad with the chip's reason, and once the
// chips recover the values that arrive are the physical inputs set on them (end to end through
// driver, window record, flash log, MQTT and an independent subscriber).

import { test, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedBroker } from "../host/broker.ts";
import { bootFirmware } from "../host/firmware.ts";
import { traceSink } from "../host/moddable/runtime.ts";
import { simBoard, driftingAir, pressVibration, processTemperature } from "../sim/board.ts";
import { STANDARD_GRAVITY } from "../sim/chips/adxl345.ts";
import { rtdResistance } from "../drivers/max31865/rtd.ts";
import { devPki, SUBSCRIBER } from "./support/pki.ts";
import { subscribe } from "./support/subscriber.ts";
import { until } from "./support/until.ts";
import { stopWhenFinished } from "./support/stop-when-finished.ts";

const THING = "press-7";
const firmwareLog: string[] = [];

beforeAll(() => {
  traceSink.write = (text) => void firmwareLog.push(text);
});
afterAll(() => {
  traceSink.write = (text) => void process.stdout.write(text);
  // Give the shared board its plant back for whatever runs next in this process.
  simBoard().sht3x.environment = driftingAir;
  simBoard().bme280.environment = (atMs) => ({ ...driftingAir(atMs), pressure: 101_325 });
  simBoard().max31865.resistance = (atMs) => rtdResistance(processTemperature(atMs), 100);
  simBoard().adxl345.motion = pressVibration;
});

/** CRC errors on the SHT3x, NACKs from the BME280, an open RTD, the ADXL345 off its supply. */
const faultEveryChip = (on: boolean) => simBoard().faultEveryChip(on);

type Channel = { quality?: string; reason?: string } & Record<string, number | string | undefined>;

test("every chip faulted mid-run: sampling goes on, readings are bad with the reason, then good again", async () => {
  const pki = devPki(THING, SUBSCRIBER);
  const broker = await startEmbeddedBroker({ certsDir: pki.dir });
  const amplitude = 4; // m/s^2, 50 Hz on x
  simBoard().sht3x.environment = { temperature: 31.5, humidity: 40 };
  simBoard().bme280.environment = { temperature: 31.5, humidity: 40, pressure: 99_000 };
  simBoard().max31865.resistance = rtdResistance(75.5, 100); // below the 85 C alarm: every record is a reading
  simBoard().adxl345.motion = (t) => ({ x: amplitude * Math.sin(2 * Math.PI * 50 * t), y: 0, z: STANDARD_GRAVITY });
  const spiBus = simBoard().spi.get(2)!;
  try {
    const sub = await subscribe({ port: broker.port, tls: pki.tlsOptions(SUBSCRIBER), topic: `iiot-test/${THING}/telemetry`, clientId: `${SUBSCRIBER}-sensor-faults` });
    const node = stopWhenFinished(await bootFirmware({
      config: {
        thing: THING, topic_root: `iiot-test/${THING}/`, broker_host: "localhost", broker_port: broker.port,
        sample_ms: 200, flush_ms: 400, startup_jitter_ms: 0,
      },
      resources: pki.resources(THING),
      state: mkdtempSync(join(tmpdir(), "iiot-state-")),
    }));
    // Counted in samples, not seconds: a slow machine takes longer, never fewer.
    await until(() => node.stats.sampled >= 10, "10 healthy samples");
    const healthyUntil = node.stats.sampled;
    faultEveryChip(true);
    await until(() => node.stats.sampled >= healthyUntil + 8, "8 faulted samples");
    const faultedFrom = healthyUntil + 1; // the window in flight may still be whole
    const faultedUntil = node.stats.sampled;
    faultEveryChip(false);
    await until(() => node.stats.sampled >= faultedUntil + 12, "12 healed samples");
    const stats = await node.stop(5000);
    await sub.waitForReadings(stats.sampled, 5000);
    await sub.close();
    const log = firmwareLog.join("");

    const readings = sub.docs.flatMap((d) => d.readings) as unknown as ({ seq: number } & Record<string, Channel>)[];
    expect(readings.map((r) => r.seq), `sampling never stopped\n${log}`).toStrictEqual(Array.from({ length: stats.sampled }, (_, i) => i));
    expect(spiBus.transactions > 0).toBeTruthy();

    const faulted = readings.filter((r) => r.seq > faultedFrom && r.seq < faultedUntil);
    expect(faulted.length >= 4, `${faulted.length} readings while faulted`).toBeTruthy();
    for (const r of faulted) {
      expect(r.sht3x.quality, JSON.stringify(r)).toBe("bad");
      expect(r.sht3x.reason).toBe("crc");
      expect(r.bme280.quality).toBe("bad");
      expect(r.bme280.reason).toBe("nack");
      expect(r.max31865.quality).toBe("bad");
      expect(["rtd-high", "open-circuit"].includes(r.max31865.reason!), JSON.stringify(r.max31865)).toBeTruthy();
      expect(r.adxl345.quality).toBe("bad");
      expect(["bus", "restarting"].includes(r.adxl345.reason!), JSON.stringify(r.adxl345)).toBeTruthy();
      for (const sensor of ["sht3x", "bme280", "max31865", "adxl345"]) expect(Object.keys(r[sensor]).length, `no value beside a bad quality: ${JSON.stringify(r[sensor])}`).toBe(2);
    }

    // After the healing, the last readings are good and carry the inputs set on the chips.
    const healed = readings.slice(-6);
    for (const r of healed) {
      expect(r.sht3x.quality, JSON.stringify(r)).toBe(undefined);
      expect(Math.abs((r.sht3x.temperature as number) - 31.5) < 0.01).toBeTruthy();
      expect(Math.abs((r.sht3x.humidity as number) - 40) < 0.01).toBeTruthy();
      expect(Math.abs((r.bme280.pressure as number) - 99_000) < 0.3).toBeTruthy();
      expect(Math.abs((r.max31865.temperature as number) - 75.5) < 0.05, JSON.stringify(r.max31865)).toBeTruthy();
      // The chips read the firmware clock, so an event-loop stall delays the drain timer without
      // overrunning the FIFO: every healed window is whole.
      expect(r.adxl345.quality, JSON.stringify(r.adxl345)).toBe(undefined);
      // Stored at 3 decimals; quantisation to 3.9 mg adds at most about 0.02 m/s^2 of RMS.
      expect(Math.abs((r.adxl345.rms_x as number) - amplitude / Math.SQRT2) < 0.03, JSON.stringify(r.adxl345)).toBeTruthy();
      expect((r.adxl345.rms_z as number) < 0.03, "gravity is not vibration").toBeTruthy();
      expect(Math.abs((r.adxl345.peak as number) - amplitude) < 0.06, JSON.stringify(r.adxl345)).toBeTruthy();
    }
  } finally {
    await broker.close();
  }
});
