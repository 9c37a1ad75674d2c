// ADXL345: the window statistics against analytic values, and the driver against the simulated
// chip through the simulator's ECMA-419 SPI class: 800 Hz through the FIFO in bursts, full
// resolution, overrun, and every injectable fault with recovery. Also the SPI class's own rules.

import { test, equal, near, assert, throws } from "./api";
import Adxl345, { ADXL345_M_S2_PER_COUNT } from "../../drivers/adxl345/adxl345";
import { VibrationWindow } from "../../drivers/adxl345/vibration";
import { SimAdxl345, STANDARD_GRAVITY } from "../../sim/chips/adxl345";
import { SimMax31865 } from "../../sim/chips/max31865";
import Max31865 from "../../drivers/max31865/max31865";
import { SimSPIBus, type SPITarget } from "../../sim/spi-bus";
import SPI from "../../sim/io/spi";
import Digital from "../../sim/io/digital";
import { simBoard } from "../../sim/board";
import type { SPIConstructor } from "../../drivers/bus";
import { onClose, openBus, wireBus, SPI_PINS as PINS } from "./spi-rig";

const SELECT = 32;
const COUNT = ADXL345_M_S2_PER_COUNT;

function rig(options: { range?: 2 | 4 | 8 | 16; busMode?: number; chipMode?: number } = {}) {
  let now = 0;
  const chip = new SimAdxl345({ now: () => now });
  const { bus, shared } = openBus([[SELECT, chip]], options.busMode);
  const mode = options.chipMode !== undefined ? { mode: options.chipMode } : {};
  const driver = new Adxl345({ range: options.range, sensor: { io: shared.io, select: SELECT, ...mode } });
  onClose(() => driver.close());
  /** Runs the node's schedule: drain every drainMs for ms, then take the window. */
  const windowOf = (ms: number, drainMs = 20) => {
    for (let t = 0; t < ms; t += drainMs) {
      now += Math.min(drainMs, ms - t);
      driver.drain();
    }
    return driver.sample();
  };
  return { chip, bus, driver, windowOf };
}

test("vibration: RMS about the mean and peak of a sampled sine are the analytic values", () => {
  const w = new VibrationWindow();
  const amplitude = 1000; // counts
  for (let k = 0; k < 800; k++) w.add(Math.round(amplitude * Math.sin((2 * Math.PI * 50 * k) / 800)), 256, -300 + (k % 2) * 600);
  const r = w.result(1)!;
  equal(r.count, 800);
  near(r.rms.x, amplitude / Math.SQRT2, 0.5, "A / sqrt 2");
  equal(r.rms.y, 0, "a constant (gravity) has no RMS about the mean");
  equal(r.rms.z, 300, "a square wave's RMS is its amplitude");
  equal(r.peak, amplitude, "largest deviation from the mean");
  w.reset();
  equal(w.result(1), undefined, "an empty window has no statistics");
});

test("adxl345: RMS of a known sine through chip, FIFO and driver equals A / sqrt 2", () => {
  const { chip, windowOf } = rig();
  const a = 3.0; // m/s^2
  chip.motion = (t) => ({ x: a * Math.sin(2 * Math.PI * 50 * t), y: 0.5 * a * Math.cos(2 * Math.PI * 25 * t), z: STANDARD_GRAVITY });
  windowOf(1000); // the first window starts with the chip
  const s = windowOf(1000);
  equal(s.quality, "good");
  equal(s.vibration!.count, 800, "800 Hz for one second, nothing lost");
  // Quantisation to 3.9 mg adds at most COUNT / sqrt(12) of RMS error.
  near(s.vibration!.rms.x, a / Math.SQRT2, COUNT / 2, "x");
  near(s.vibration!.rms.y, (0.5 * a) / Math.SQRT2, COUNT / 2, "y");
  near(s.vibration!.rms.z, 0, COUNT / 2, "gravity is not vibration");
  near(s.vibration!.peak, a, COUNT, "peak");
  near(s.accelerometer!.z, STANDARD_GRAVITY, COUNT, "the latest sample carries gravity");
});

test("adxl345: full resolution keeps 3.9 mg per count up to the range, which clips", () => {
  for (const [range, g] of [[16, 12.5], [2, 1.5], [2, 3]] as const) {
    const { chip, windowOf } = rig({ range });
    chip.motion = () => ({ x: g * STANDARD_GRAVITY, y: -g * STANDARD_GRAVITY, z: 0 });
    windowOf(100);
    const s = windowOf(100);
    // Clipped at the range's counts: +-2 g full resolution is 10 bits, -512..511.
    const top = g < range ? g * STANDARD_GRAVITY : 511 * COUNT;
    const bottom = g < range ? -g * STANDARD_GRAVITY : -512 * COUNT;
    near(s.accelerometer!.x, top, COUNT / 2, `+${g} g in +-${range} g`);
    near(s.accelerometer!.y, bottom, COUNT / 2, `-${g} g in +-${range} g`);
  }
});

test("adxl345: draining every 20 ms keeps every sample; too slowly overruns and says so", () => {
  const { chip, windowOf } = rig();
  windowOf(1000);
  equal(windowOf(1000, 20).vibration!.count, 800);
  equal(chip.fifoEntries, 0, "bursts empty the FIFO");
  const slow = windowOf(1000, 60); // 48 samples arrive per 60 ms, the FIFO holds 32
  equal(slow.quality, "uncertain");
  equal(slow.reason, "overrun");
  assert(chip.overwritten > 0, "the chip did lose samples");
  equal(windowOf(1000, 20).quality, "good", "the next window is whole again");
});

test("adxl345: the first window begins at the first drain, however late it comes", () => {
  const { windowOf } = rig();
  const first = windowOf(300, 300); // the node took 300 ms to start its drain timer
  equal(first.quality, "good");
  equal(first.vibration!.count, 32, "what the FIFO kept");
  const late = windowOf(300, 300);
  equal(late.reason, "overrun", "later, a late drain loses samples of the window");
});

test("adxl345: a floating MISO, a power-cycled chip: bad with a reason, then recovery", () => {
  const { chip, bus, windowOf } = rig();
  windowOf(1000);
  bus.misoStuck = 0xff;
  const lost = windowOf(1000);
  equal(lost.quality, "bad");
  equal(lost.reason, "bus");
  bus.misoStuck = undefined;
  equal(windowOf(1000).reason, "restarting", "the window that spans the recovery is incomplete");
  equal(windowOf(1000).quality, "good");
  chip.powerOnReset();
  equal(windowOf(1000).reason, "restarting", "lost settings are noticed and written again");
  const s = windowOf(1000);
  equal(s.quality, "good");
  equal(s.vibration!.count, 800);
});

test("adxl345: a wrong device id or SPI mode is a clear error at construction", () => {
  const impostor = new SimAdxl345();
  impostor.faults.deviceId = 0xe6;
  const { shared } = openBus([[SELECT, impostor]]);
  throws(() => new Adxl345({ sensor: { io: shared.io, select: SELECT } }), Error, /device id 0xe6 is not 0xe5/);
  throws(() => rig({ busMode: 1 }), RangeError, /runs in mode 1; this chip asks for mode 3/);
  throws(() => rig({ busMode: 1, chipMode: 1 }), Error, /ADXL345: device id 0x\w+ is not 0xe5/);
  equal(rig().windowOf(100).quality, "good");
});

test("adxl345: on the SDK's own select pin, mode 3 garbles the first transaction (why the firmware shares the bus)", () => {
  const { port } = wireBus([[SELECT, new SimAdxl345()]]);
  const direct = SPI as unknown as SPIConstructor;
  throws(() => new Adxl345({ sensor: { io: direct, port, ...PINS, select: SELECT } }), Error, /device id 0x\w+ is not 0xe5/);
});

/** Writes a register behind the driver's back. */
function poke(chip: SimAdxl345, register: number, value: number): void {
  chip.select();
  chip.exchange(register);
  chip.exchange(value);
  chip.deselect();
}

test("adxl345: a chip put in standby or out of stream mode behind the driver's back is set up again", () => {
  const { chip, windowOf } = rig();
  windowOf(1000);
  for (const [register, value] of [[0x2d, 0x00], [0x38, 0x00], [0x2c, 0x0a], [0x31, 0x03]]) {
    poke(chip, register, value);
    equal(windowOf(1000).reason, "restarting", `register 0x${register.toString(16)} = 0x${value.toString(16)}`);
    const s = windowOf(1000);
    equal(s.quality, "good");
    equal(s.vibration!.count, 800);
  }
});

test("adxl345 and max31865 share one bus: each transaction selects exactly one chip", () => {
  let now = 0;
  const accel = new SimAdxl345({ now: () => now });
  const rtd = new SimMax31865({ now: () => now });
  rtd.resistance = 138.51;
  const { bus, shared } = openBus([[SELECT, accel], [SELECT + 1, rtd]]);
  const a = new Adxl345({ sensor: { io: shared.io, select: SELECT } });
  const r = new Max31865({ sensor: { io: shared.io, select: SELECT + 1 } });
  let temperature: number | undefined;
  for (let t = 0; t < 3000; t += 20) {
    now += 20;
    a.drain();
    if (t % 1000 === 980) temperature = r.sample().thermometer?.temperature ?? temperature;
  }
  const s = a.sample();
  equal(s.quality, "good");
  near(temperature!, 100, 0.04);
  assert(bus.transactions > 300, "both chips used the bus");
  a.close();
  r.close();
});

/** A chip that records what it saw, for the SPI class's rules. */
class Probe implements SPITarget {
  readonly modes = [0, 1, 2, 3];
  events: string[] = [];
  select() {
    this.events.push("select");
  }
  exchange(mosi: number) {
    this.events.push(`byte ${mosi}`);
    return mosi ^ 0xff;
  }
  deselect() {
    this.events.push("deselect");
  }
}

test("spi: the SDK's rules: exclusive pins, one bus, select low from construction until flush(true)", () => {
  const a = new Probe();
  const { port: first } = wireBus([[21, a], [22, new Probe()]]);
  const port = first + 1;
  simBoard().spi.set(port, new SimSPIBus());
  const one = new SPI({ port: first, clock: 16, out: 17, in: 18, select: 21, hz: 1e6 });
  equal(a.events.join(","), "select", "the SDK drives select low when it sets the pin up");
  throws(() => new SPI({ port: first, clock: 16, out: 19, select: 23, hz: 1e6 }), Error, /in use/);
  throws(() => new Digital({ pin: 17, mode: Digital.Output }), Error, /in use/);
  throws(() => new SPI({ port: first, clock: 19, hz: 1e6 }), Error, /in or out required/);
  throws(() => new SPI({ port: first, clock: 19, out: 23, hz: 0 }), RangeError, /invalid hz/);
  throws(() => new SPI({ port: first, clock: 19, out: 23, hz: 1e6, mode: 4 }), RangeError, /invalid mode/);
  throws(() => new SPI({ port: first, clock: 35, out: 23, hz: 1e6 }), RangeError, /invalid clock/);
  throws(() => new SPI({ port: first, clock: 19, out: 7, hz: 1e6 }), RangeError, /invalid pin/); // the flash chip's
  throws(() => new SPI({ port: 99, clock: 19, out: 23, hz: 1e6 }), RangeError, /invalid port/);
  throws(() => new SPI({ port, clock: 19, out: 23, hz: 1e6 }), Error, /one SPI bus/);
  one.write(Uint8Array.of(1));
  const reply = Uint8Array.of(2);
  one.transfer(reply);
  equal(reply[0], 0xfd, "full duplex, in place");
  throws(() => one.write(new Uint8Array(8).subarray(1, 3)), Error, /unaligned/);
  one.flush(true);
  one.write(Uint8Array.of(3));
  one.flush(true);
  equal(a.events.join(","), "select,byte 1,byte 2,deselect,select,byte 3,deselect");
  one.close();
  new SPI({ port, clock: 16, out: 17, hz: 1e6 }).close(); // pins and bus are free again after close
});

test("adxl345 on a shared bus: traffic whose first byte is its I2C address byte gets acknowledged into, the MAX31865's never is", () => {
  const accel = new SimAdxl345();
  const probe = new Probe();
  const { shared } = openBus([[SELECT, accel], [SELECT + 1, probe]]);
  const other = new shared.io({ hz: 1e6, select: SELECT + 1 });
  for (const first of [0xa6, 0xa7]) {
    other.transfer(Uint8Array.of(first, 0xff));
    other.flush(true);
    equal(probe.events.at(-2), "byte 127", `after 0x${first.toString(16)} the ADXL345's ACK pulls the next byte's first bit low`);
  }
  for (const first of [0x00, 0x80, 0x83]) { // every address byte the MAX31865 driver sends
    other.transfer(Uint8Array.of(first, 0xff));
    other.flush(true);
    equal(probe.events.at(-2), "byte 255", `0x${first.toString(16)} is not an ADXL345 address byte`);
  }
  other.close();
});

test("spi: the shared bus drives every select inactive before its first clock, even where a select is pulled low", () => {
  const a = new Probe();
  const b = new Probe();
  const { shared } = (() => {
    simBoard().gpio.pull(21, 0);
    simBoard().gpio.pull(22, 0);
    try {
      return openBus([[21, a], [22, b]], 3);
    } finally {
      simBoard().gpio.pull(21, 1);
      simBoard().gpio.pull(22, 1);
    }
  })();
  assert(!a.events.includes("byte 0") && !b.events.includes("byte 0"), `no chip saw the settling byte: ${a.events} / ${b.events}`);
  const device = new shared.io({ hz: 1e6, select: 22 });
  device.transfer(Uint8Array.of(7));
  device.flush(true);
  equal(b.events.slice(-3).join(","), "select,byte 7,deselect");
  device.close();
});
