// SHT3x: datasheet CRC and conversion vectors, and the driver against the simulated chip through the
// simulator's ECMA-419 I2C class, including every injectable fault and recovery from it.

import { test, equal, near, throws, assert } from "./api";
import { sensirionCrc8 } from "../../drivers/sensirion-crc";
import Sht3x, { rateForSamplingPeriod, sht3xHumidity, sht3xTemperature } from "../../drivers/sht3x/sht3x";
import { SimI2CBus } from "../../sim/i2c-bus";
import { SimSht3x } from "../../sim/chips/sht3x";
import I2C from "../../sim/io/i2c";
import { simBoard } from "../../sim/board";

test("sht3x: CRC-8 of 0xBEEF is 0x92 (datasheet 4.12)", () => {
  equal(sensirionCrc8([0xbe, 0xef]), 0x92);
});

test("sht3x: conversion end points (datasheet 4.13)", () => {
  equal(sht3xTemperature(0), -45);
  equal(sht3xTemperature(65535), 130);
  equal(sht3xHumidity(0), 0);
  equal(sht3xHumidity(65535), 100);
  near(sht3xTemperature(0x6666), 25.0, 0.01);
});

let nextPort = 10;
function rig() {
  let now = 1_000_000;
  const bus = new SimI2CBus();
  const chip = new SimSht3x({ now: () => now });
  bus.attach(0x44, chip);
  const port = nextPort++;
  simBoard().i2c.set(port, bus);
  const advance = (ms: number) => (now += ms);
  const driver = new Sht3x({ sensor: { io: I2C, data: 21, clock: 22, port }, wait: advance });
  return { bus, chip, driver, advance };
}

test("sht3x: driver starts periodic mode and reads the simulated air", () => {
  const { chip, driver, advance } = rig();
  assert(chip.measuring, "periodic mode after construction");
  equal(driver.sample().reason, "no-data", "nothing before the first conversion completes");
  chip.environment = { temperature: 85.25, humidity: 12.5 };
  advance(20);
  const s = driver.sample();
  equal(s.quality, "good");
  near(s.thermometer!.temperature, 85.25, 175 / 65535);
  near(s.hygrometer!.humidity, 12.5, 100 / 65535);
  const again = driver.sample();
  equal(again.quality, "uncertain", "a second fetch in the same period has no new data");
  advance(500);
  equal(driver.sample().quality, "good", "next period");
});

test("sht3x: values across the range end to end", () => {
  const { chip, driver, advance } = rig();
  for (let t = -40; t <= 125; t += 7.5) {
    const rh = (t + 40) / 1.65;
    chip.environment = { temperature: t, humidity: rh };
    advance(500);
    const s = driver.sample();
    near(s.thermometer!.temperature, t, 0.003, `temperature at ${t}`);
    near(s.hygrometer!.humidity, rh, 0.002, `humidity at ${rh}`);
  }
});

test("sht3x: a corrupted CRC gives bad/crc, never a value", () => {
  const { chip, driver, advance } = rig();
  advance(20);
  chip.faults.badCrcCount = 1;
  const s = driver.sample();
  equal(s.quality, "bad");
  equal(s.reason, "crc");
  equal(s.thermometer, undefined);
  advance(500);
  equal(driver.sample().quality, "good", "recovers on the next period");
});

test("sht3x: NACK and a stuck bus give bad with a reason, then the driver recovers", () => {
  const { chip, bus, driver, advance } = rig();
  advance(20);
  chip.faults.nack = true;
  equal(driver.sample().reason, "nack");
  equal(driver.sample().reason, "nack");
  chip.faults.nack = false;
  bus.stuck = true;
  advance(500);
  equal(driver.sample().reason, "bus");
  bus.stuck = false;
  const restart = driver.sample();
  equal(restart.reason, "restarting");
  advance(20);
  equal(driver.sample().quality, "good");
});

test("sht3x: a chip that lost power is put back into periodic mode", () => {
  const { chip, driver, advance } = rig();
  advance(20);
  equal(driver.sample().quality, "good");
  chip.powerCycle();
  let reasons = "";
  for (let i = 0; i < 5 && !chip.measuring; i++) {
    advance(1000);
    reasons += `${driver.sample().reason} `;
  }
  assert(chip.measuring, `periodic mode restored (samples: ${reasons})`);
  advance(1000);
  equal(driver.sample().quality, "good");
});

test("sht3x: no chip at the address is a clear error at construction", () => {
  const bus = new SimI2CBus();
  simBoard().i2c.set(99, bus);
  throws(() => new Sht3x({ sensor: { io: I2C, data: 21, clock: 22, port: 99, address: 0x45 } }), Error, /SHT3x at 0x45 did not respond/);
});

test("sht3x: the simulated chip refuses commands in periodic mode and for 1 ms after BREAK", () => {
  let now = 0;
  const chip = new SimSht3x({ now: () => now });
  chip.write(Uint8Array.of(0x22, 0x36));
  throws(() => chip.write(Uint8Array.of(0xf3, 0x2d)), Error, /refused in periodic mode/);
  chip.write(Uint8Array.of(0x30, 0x93));
  throws(() => chip.write(Uint8Array.of(0xf3, 0x2d)), Error, /busy after BREAK/);
  now += 1;
  chip.write(Uint8Array.of(0xf3, 0x2d));
});

test("sht3x: a driver that does not wait after BREAK is refused by the chip", () => {
  const bus = new SimI2CBus();
  bus.attach(0x44, new SimSht3x({ now: () => 5 }));
  simBoard().i2c.set(98, bus);
  throws(() => new Sht3x({ sensor: { io: I2C, data: 21, clock: 22, port: 98 }, wait: () => {} }), Error, /busy after BREAK/);
});

test("sht3x: a CRC error in the humidity word is caught too", () => {
  const { chip, driver, advance } = rig();
  advance(20);
  chip.faults.badCrcCount = 1;
  driver.sample(); // first word corrupted
  advance(500);
  equal(driver.sample().quality, "good");
  advance(500);
  const original = chip.environment;
  chip.faults.badCrcCount = 0;
  // corrupt only the second word: let the first through, then flip the second
  let words = 0;
  const realRead = chip.read.bind(chip);
  chip.read = (count: number) => {
    const data = realRead(count).slice();
    if (count === 6 && words++ === 0) data[5] ^= 0x01;
    return data;
  };
  const s = driver.sample();
  equal(s.reason, "crc");
  equal(s.hygrometer, undefined);
  chip.environment = original;
});

test("sht3x: the measurement rate keeps fresh data at twice the sampling rate", () => {
  equal(rateForSamplingPeriod(1000), 2);
  equal(rateForSamplingPeriod(4000), 0.5);
  equal(rateForSamplingPeriod(200), 10);
  const { chip, driver, advance } = rig();
  driver.configure({ measurementsPerSecond: 10 });
  equal(driver.sample().reason, "restarting");
  let good = 0;
  for (let i = 0; i < 20; i++) {
    advance(200);
    if (driver.sample().quality === "good") good++;
  }
  equal(good, 20, "every 200 ms sample is fresh at 10 measurements per second");
  throws(() => driver.configure({ measurementsPerSecond: 3 as never }), RangeError);
  assert(chip.measuring);
});
