// BME280 compensation against the Bosch reference example and properties across the raw range.

import { test, equal, near, assert } from "./api";
import { compensateHumidity, compensatePressure, compensateTemperature, parseCalibration, type Bme280Calibration } from "../../drivers/bme280/compensation";

// The worked example in Bosch's BMP280 datasheet (3.12), whose temperature and pressure
// compensation the BME280 shares: adc_T 519888 -> 25.08 C (t_fine 128422), adc_P 415148 ->
// 100653.27 Pa. The datasheet prints the 64-bit code as 25767236, but its published formula yields
// 25767233 (0.012 Pa less), as other implementations have also found: we check the formula's value.
const example: Bme280Calibration = {
  T1: 27504, T2: 26435, T3: -1000,
  P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
  H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30,
};

test("bme280: the Bosch worked example, bit for bit", () => {
  const [t, tFine] = compensateTemperature(519888, example);
  equal(t, 2508);
  equal(tFine, 128422);
  equal(compensatePressure(415148, tFine, example), 25767233);
  near(compensatePressure(415148, tFine, example) / 256, 100653.27, 0.02);
});

test("bme280: calibration registers parse as datasheet table 16 lays them out", () => {
  const tp = new Uint8Array(26);
  const put = (i: number, v: number) => {
    tp[i] = v & 0xff;
    tp[i + 1] = (v >> 8) & 0xff;
  };
  [27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000].forEach((v, k) => put(k * 2, v));
  tp[25] = 75;
  // H2 = 362, H3 = 0, H4 = 313 (0x139: E4 = 0x13, E5[3:0] = 9), H5 = 50 (0x032: E5[7:4] = 2, E6 = 0x03), H6 = 30
  const h = Uint8Array.of(362 & 0xff, 362 >> 8, 0, 0x13, 0x29, 0x03, 30);
  const c = parseCalibration(tp, h);
  for (const key of Object.keys(example) as (keyof Bme280Calibration)[]) equal(c[key], example[key], key);
});

test("bme280: compensation rises with the raw values and stays in range across it", () => {
  let lastT = -Infinity;
  for (let adcT = 400000; adcT <= 600000; adcT += 997) {
    const [t, tFine] = compensateTemperature(adcT, example);
    assert(t > lastT, `temperature rises at ${adcT}`);
    lastT = t;
    let lastP = Infinity;
    for (let adcP = 250000; adcP <= 600000; adcP += 35011) {
      const p = compensatePressure(adcP, tFine, example);
      assert(p < lastP, `pressure falls as adc_P rises (${adcP})`);
      lastP = p;
    }
    let lastH = -1;
    for (let adcH = 0; adcH <= 65535; adcH += 4099) {
      const rh = compensateHumidity(adcH, tFine, example);
      assert(rh >= lastH && rh >= 0 && rh <= 100 * 1024, `humidity in 0..100 %RH and non-decreasing (${adcH})`);
      lastH = rh;
    }
  }
});

import Bme280 from "../../drivers/bme280/bme280";
import { SimBme280 } from "../../sim/chips/bme280";
import { SimI2CBus } from "../../sim/i2c-bus";
import I2C from "../../sim/io/i2c";
import { simBoard } from "../../sim/board";
import { throws } from "./api";

let port = 40;
function rig(calibration?: Bme280Calibration) {
  let now = 5_000;
  const chip = new SimBme280({ now: () => now, calibration });
  const bus = new SimI2CBus();
  bus.attach(0x76, chip);
  simBoard().i2c.set(++port, bus);
  const driver = new Bme280({ sensor: { io: I2C, data: 21, clock: 22, port } });
  return { chip, bus, driver, advance: (ms: number) => (now += ms) };
}

test("bme280 driver: reads back the simulated air through the chip's own calibration", () => {
  const { chip, driver, advance } = rig();
  equal(driver.sample().reason, "no-data", "registers hold 0x80000 until the first measurement");
  for (const env of [{ temperature: 23.45, pressure: 101_325, humidity: 45.5 }, { temperature: -12.3, pressure: 87_000.5, humidity: 92 }, { temperature: 61, pressure: 110_000, humidity: 3 }]) {
    chip.environment = env;
    advance(200);
    const s = driver.sample();
    equal(s.quality, "good");
    near(s.thermometer!.temperature, env.temperature, 0.011);
    near(s.barometer!.pressure, env.pressure, 0.2); // one raw step is about 0.16 Pa
    near(s.hygrometer!.humidity, env.humidity, 0.01);
  }
});

test("bme280 driver: a wrong chip id is a clear error, a NACK is bad with a reason and recovers", () => {
  const bus = new SimI2CBus();
  const impostor = new SimBme280();
  impostor.faults.chipId = 0x58; // a BMP280
  bus.attach(0x76, impostor);
  simBoard().i2c.set(++port, bus);
  throws(() => new Bme280({ sensor: { io: I2C, data: 21, clock: 22, port } }), Error, /chip id 0x58 is not 0x60/);
  const { chip, driver, advance } = rig();
  advance(200);
  chip.faults.nack = true;
  equal(driver.sample().reason, "nack");
  chip.faults.nack = false;
  equal(driver.sample().reason, "restarting");
  advance(200);
  equal(driver.sample().quality, "good");
});

/**
 * The datasheet's floating-point compensation (BST-BME280-DS002, 8.1), written from its formulas:
 * an independent reference for the integer code across the raw range.
 */
function floatReference(adcT: number, adcP: number, adcH: number, c: Bme280Calibration) {
  let var1 = (adcT / 16384 - c.T1 / 1024) * c.T2;
  let var2 = (adcT / 131072 - c.T1 / 8192) * (adcT / 131072 - c.T1 / 8192) * c.T3;
  const tFine = var1 + var2;
  const temperature = tFine / 5120;
  var1 = tFine / 2 - 64000;
  var2 = (var1 * var1 * c.P6) / 32768;
  var2 = var2 + var1 * c.P5 * 2;
  var2 = var2 / 4 + c.P4 * 65536;
  var1 = ((c.P3 * var1 * var1) / 524288 + c.P2 * var1) / 524288;
  var1 = (1 + var1 / 32768) * c.P1;
  let pressure = 1048576 - adcP;
  pressure = ((pressure - var2 / 4096) * 6250) / var1;
  pressure = pressure + ((c.P9 * pressure * pressure) / 2147483648 + (pressure * c.P8) / 32768 + c.P7) / 16;
  let h = tFine - 76800;
  h = (adcH - (c.H4 * 64 + (c.H5 / 16384) * h)) * ((c.H2 / 65536) * (1 + (c.H6 / 67108864) * h * (1 + (c.H3 / 67108864) * h)));
  h = h * (1 - (c.H1 * h) / 524288);
  return { temperature, pressure, humidity: Math.max(0, Math.min(100, h)) };
}

test("bme280: integer compensation agrees with the datasheet's floating-point reference across the raw range", () => {
  let worst = { t: 0, p: 0, h: 0 };
  let cases = 0;
  for (let adcT = 380000; adcT <= 640000; adcT += 6500) {
    const [t, tFine] = compensateTemperature(adcT, example);
    for (let adcP = 200000; adcP <= 650000; adcP += 15000) {
      for (let adcH = 0; adcH <= 65535; adcH += 6553) {
        const ref = floatReference(adcT, adcP, adcH, example);
        // Only the sensor's operating range counts: -40..85 C, 300..1100 hPa.
        if (ref.temperature < -40 || ref.temperature > 85 || ref.pressure < 30_000 || ref.pressure > 110_000) continue;
        cases++;
        worst = {
          t: Math.max(worst.t, Math.abs(t / 100 - ref.temperature)),
          p: Math.max(worst.p, Math.abs(compensatePressure(adcP, tFine, example) / 256 - ref.pressure)),
          h: Math.max(worst.h, Math.abs(compensateHumidity(adcH, tFine, example) / 1024 - ref.humidity)),
        };
      }
    }
  }
  assert(cases > 500, `${cases} cases in range`);
  // Integer outputs are truncated to 0.01 C, 1/256 Pa and 1/1024 %RH; the 64-bit pressure formula
  // also truncates its intermediate terms (0.26 Pa apart at worst here, below the 1.0 Pa resolution
  // the datasheet gives for the lowest oversampling).
  assert(worst.t <= 0.01, `temperature differs by ${worst.t} C`);
  assert(worst.p <= 0.4, `pressure differs by ${worst.p} Pa`);
  assert(worst.h <= 0.01, `humidity differs by ${worst.h} %RH`);
});

/** Two more chips' factory calibrations (values of the kind real parts carry; not the worked example). */
const otherChips: Bme280Calibration[] = [
  { T1: 28176, T2: 26220, T3: 50, P1: 37640, P2: -10532, P3: 3024, P4: 6988, P5: -51, P6: -7, P7: 9900, P8: -10230, P9: 4285, H1: 75, H2: 354, H3: 0, H4: 331, H5: 50, H6: 30 },
  { T1: 27863, T2: 26659, T3: 50, P1: 38216, P2: -10669, P3: 3024, P4: 8294, P5: -140, P6: -7, P7: 15500, P8: -14600, P9: 6000, H1: 75, H2: 371, H3: 0, H4: 288, H5: 41, H6: 30 },
];

test("bme280 driver: outside 300..1100 hPa or -40..85 C a sample is uncertain (range), its values kept", () => {
  for (const calibration of otherChips) {
    const { chip, driver, advance } = rig(calibration);
    const cases: [{ temperature: number; pressure: number }, string][] = [
      [{ temperature: 22, pressure: 101_325 }, "good"],
      [{ temperature: -39.9, pressure: 30_050 }, "good"],
      [{ temperature: 84.9, pressure: 109_950 }, "good"],
      [{ temperature: 22, pressure: 29_000 }, "range"],
      [{ temperature: 22, pressure: 112_000 }, "range"],
      [{ temperature: -45, pressure: 101_325 }, "range"],
      [{ temperature: 90, pressure: 101_325 }, "range"],
    ];
    for (const [air, expected] of cases) {
      chip.environment = { ...air, humidity: 40 };
      advance(200);
      const s = driver.sample();
      const what = `${JSON.stringify(air)} with T1=${calibration.T1}`;
      equal(s.quality, expected === "good" ? "good" : "uncertain", what);
      equal(s.reason, expected === "good" ? undefined : "range", what);
      near(s.thermometer!.temperature, air.temperature, 0.011, what);
      near(s.barometer!.pressure, air.pressure, 0.3, what);
    }
  }
});
