// Firmware entry point: wires the platform's modules (ECMA-419 IO, sockets, resources, preferences)
// to the node. The same file runs on ESP32, on the simulator and on the host target; the manifest
// (or the host loader) decides what each imported module is.

import config from "mc/config";
import Preference from "preference";
import Resource from "Resource";
import I2C from "embedded:io/i2c";
import SPI from "embedded:io/spi";
import Timer from "timer";
import TCP from "embedded:io/socket/tcp";
import TLSSocket from "embedded:io/socket/tcp/tls";
import Flash from "flash";
import { parseConfig, type NodeConfig, type SensorName } from "./config";
import { startNode, supervisedSensor, type RunningNode, type SensorSource } from "./app";
import Sht3x, { rateForSamplingPeriod } from "../drivers/sht3x/sht3x";
import Bme280 from "../drivers/bme280/bme280";
import Max31865 from "../drivers/max31865/max31865";
import Adxl345 from "../drivers/adxl345/adxl345";
import type { I2CConstructor, SPIConstructor } from "../drivers/bus";
import type { FlashDevice } from "./log/flash-log";
import { guardedTCP } from "./net/guarded-tcp";

/** Each TLS write becomes one record: leave room for its header, IV, MAC and padding. */
const TLS_RECORD_OVERHEAD = 96;

function log(line: string): void {
  trace(`${line}\n`);
}

function nextBootId(): number {
  const previous = Preference.get("iiot", "boot");
  const boot = (typeof previous === "number" ? previous : 0) + 1;
  Preference.set("iiot", "boot", boot);
  return boot;
}

/** The Moddable flash module's partition as the log's FlashDevice. */
function flashPartition(name: string): FlashDevice {
  const flash = new Flash(name);
  return {
    byteLength: flash.byteLength,
    blockSize: flash.blockSize,
    read: (offset, length) => new Uint8Array(flash.read(offset, length) as ArrayBuffer),
    write: (offset, data) => flash.write(offset, data.length, data),
    erase: (sector) => flash.erase(sector),
  };
}

function sht3xSource(options: ConstructorParameters<typeof Sht3x>[0]): SensorSource {
  return supervisedSensor("sht3x", ["temperature", "humidity"], () => {
    const sensor = new Sht3x(options);
    const sample = () => {
      const s = sensor.sample();
      const values: Record<string, number> = {};
      if (s.thermometer) values.temperature = s.thermometer.temperature;
      if (s.hygrometer) values.humidity = s.hygrometer.humidity;
      return { quality: s.quality, reason: s.reason, values };
    };
    return { sample, close: () => sensor.close() };
  }, log);
}

/** The reference device logs the BME280's pressure; its temperature and humidity duplicate the SHT3x. */
function bme280Source(options: ConstructorParameters<typeof Bme280>[0]): SensorSource {
  return supervisedSensor("bme280", ["pressure"], () => {
    const sensor = new Bme280(options);
    const sample = () => {
      const s = sensor.sample();
      const values: Record<string, number> = {};
      if (s.barometer) values.pressure = s.barometer.pressure;
      return { quality: s.quality, reason: s.reason, values };
    };
    return { sample, close: () => sensor.close() };
  }, log);
}

function max31865Source(options: ConstructorParameters<typeof Max31865>[0]): SensorSource {
  return supervisedSensor("max31865", ["temperature"], () => {
    const sensor = new Max31865(options);
    const sample = () => {
      const s = sensor.sample();
      const values: Record<string, number> = s.thermometer ? { temperature: s.thermometer.temperature } : {};
      return { quality: s.quality, reason: s.reason, values };
    };
    return { sample, close: () => sensor.close() };
  }, log);
}

/** The ADXL345's FIFO holds 40 ms at 800 Hz: drain it every 20 ms, outside the sampling tick. */
const ACCELEROMETER_DRAIN_MS = 20;

function adxl345Source(options: ConstructorParameters<typeof Adxl345>[0]): SensorSource {
  return supervisedSensor("adxl345", ["rms_x", "rms_y", "rms_z", "peak"], () => {
    const sensor = new Adxl345(options);
    const drainer = Timer.repeat(() => sensor.drain(), ACCELEROMETER_DRAIN_MS);
    const sample = () => {
      const s = sensor.sample();
      const v = s.vibration;
      const values: Record<string, number> = v ? { rms_x: v.rms.x, rms_y: v.rms.y, rms_z: v.rms.z, peak: v.peak } : {};
      return { quality: s.quality, reason: s.reason, values };
    };
    return {
      sample,
      close: () => {
        Timer.clear(drainer);
        sensor.close();
      },
    };
  }, log);
}

/** The configured sensors, each on its bus. The SDK's I2C and SPI have close(); their typings leave it out. */
function sensorSources(settings: NodeConfig): SensorSource[] {
  const i2c = I2C as unknown as I2CConstructor;
  const spi = SPI as unknown as SPIConstructor;
  const start: Record<SensorName, () => SensorSource> = {
    sht3x: () => sht3xSource({ sensor: { io: i2c, ...settings.i2c }, measurementsPerSecond: rateForSamplingPeriod(settings.sampleIntervalMs) }),
    bme280: () => bme280Source({ sensor: { io: i2c, ...settings.i2c, address: 0x76 } }),
    max31865: () => {
      const { spi: pins, nominal, referenceOhms, wires, filterHz } = settings.rtd;
      return max31865Source({ sensor: { io: spi, ...pins }, rtdNominal: nominal, referenceOhms, wires, filterHz });
    },
    adxl345: () => adxl345Source({ sensor: { io: spi, ...settings.accelerometer.spi }, range: settings.accelerometer.range }),
  };
  return settings.sensors.map((name) => start[name]());
}

export default function main(): RunningNode {
  try {
    return start();
  } catch (error) {
    // XS reports an uncaught exception only as "unhandled exception": say what it was first.
    log(`fatal: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

function start(): RunningNode {
  const settings = parseConfig(config);
  const secure = {
    certificate: new Resource(settings.resources.ca),
    clientCertificates: [new Resource(settings.resources.certificate)],
    clientKey: new Resource(settings.resources.key),
    serverName: settings.broker.serverName,
    protocolVersion: 0x303,
  };
  const sensors = sensorSources(settings);
  const GuardedTCP = guardedTCP(TCP, log) as unknown as typeof TCP;
  return startNode({
    config: settings,
    boot: nextBootId(),
    sensors,
    flash: flashPartition(settings.logPartition),
    writeReserve: TLS_RECORD_OVERHEAD,
    openSocket: (callbacks) =>
      new TLSSocket({
        TCP: { io: GuardedTCP },
        address: settings.broker.address,
        port: settings.broker.port,
        host: settings.broker.serverName,
        secure,
        ...callbacks,
      }),
    log,
  });
}
