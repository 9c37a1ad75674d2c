// MAX31865: the driver against the simulated chip through the simulator's ECMA-419 SPI class: the
// IEC 60751 table end to end (PT100 and PT1000), wiring and filter settings, conversion timing, and
// every injectable fault with recovery.

import { test, equal, near, assert, throws } from "./api";
import Max31865, { max31865FaultReason } from "../../drivers/max31865/max31865";
import { rtdResistance } from "../../drivers/max31865/rtd";
import { SimMax31865, MAX31865_REGISTERS, MAX31865_CONFIG } from "../../sim/chips/max31865";
import SPI from "../../sim/io/spi";
import type { SPIConstructor } from "../../drivers/bus";
import { onClose, openBus, wireBus, SPI_PINS as PINS } from "./spi-rig";

const IEC_60751_PT100: [number, number][] = [
  [-200, 18.52], [-150, 39.72], [-100, 60.26], [-50, 80.31], [0, 100.0], [50, 119.4], [100, 138.51],
  [200, 175.86], [300, 212.05], [400, 247.09], [500, 280.98], [600, 313.71], [700, 345.28], [800, 375.7], [850, 390.48],
];

const SELECT = 33;

type Options = Partial<ConstructorParameters<typeof Max31865>[0]> & { busMode?: number; chipMode?: number; referenceOhms?: number };

/** A MAX31865 alone on a fresh simulated bus, as the firmware wires it; closes the previous rig (SPI pins are exclusive). */
function rig(options: Options = {}) {
  let now = 10_000;
  const chip = new SimMax31865({ referenceOhms: options.referenceOhms ?? 430, now: () => now });
  chip.resistance = options.rtdNominal ?? 100;
  const { busMode = 3, chipMode, ...rest } = options;
  const { bus, shared } = openBus([[SELECT, chip]], busMode);
  const driver = new Max31865({ ...rest, sensor: { io: shared.io, select: SELECT, ...(chipMode !== undefined ? { mode: chipMode } : {}) } });
  onClose(() => driver.close());
  /** Lets time pass, then samples. */
  const after = (ms: number) => {
    now += ms;
    return driver.sample();
  };
  /** Samples until the driver reports good data (at most five 100 ms steps). */
  const settle = () => {
    let s = after(100);
    for (let i = 0; i < 5 && s.quality !== "good"; i++) s = after(100);
    return s;
  };
  return { chip, bus, driver, shared, after, settle };
}

test("max31865: IEC 60751 PT100 table end to end through chip and driver, 430 ohm reference", () => {
  const { chip, after, settle } = rig({ referenceOhms: 430 });
  equal(after(1).reason, "no-data", "the lead check runs first, then conversions start");
  equal(settle().quality, "good");
  for (const [t, ohms] of IEC_60751_PT100) {
    chip.resistance = ohms;
    const s = after(100);
    equal(s.quality, "good", `${t} C`);
    // One code is 430 / 32768 = 0.013 ohm: 0.035 C at the table's steepest and 0.005 C of table rounding.
    near(s.thermometer!.temperature, t, 0.045, `${ohms} ohm`);
    near(s.resistance!, ohms, 430 / 32768, `${ohms} ohm read back`);
  }
});

test("max31865: PT1000 with a 4300 ohm reference across -200..850 C", () => {
  const { chip, after, settle } = rig({ rtdNominal: 1000, referenceOhms: 4300 });
  settle();
  for (let t = -200; t <= 850; t += 52.5) {
    chip.resistance = rtdResistance(t, 1000);
    const s = after(100);
    equal(s.quality, "good", `${t} C`);
    near(s.thermometer!.temperature, t, 0.04, `${t} C`);
  }
});

test("max31865: wiring and mains filter reach the configuration register", () => {
  for (const [wires, filterHz] of [[2, 50], [3, 60], [4, 60], [3, 50]] as const) {
    const { chip, driver, shared, settle } = rig({ wires, filterHz });
    equal(settle().quality, "good");
    equal(chip.filterHz, filterHz, "notch");
    // Read the configuration register over the bus as any controller would (on the driver's select).
    driver.close();
    const device = new shared.io({ hz: 1e6, select: SELECT });
    const frame = Uint8Array.of(MAX31865_REGISTERS.CONFIG, 0);
    device.transfer(frame);
    device.flush(true);
    device.close();
    equal(frame[1] & MAX31865_CONFIG.THREE_WIRE, wires === 3 ? MAX31865_CONFIG.THREE_WIRE : 0, `${wires}-wire`);
    assert(frame[1] & MAX31865_CONFIG.AUTO && frame[1] & MAX31865_CONFIG.VBIAS, "bias on, converting automatically");
  }
});

test("max31865: no conversion wait: a sample never blocks and is fresh once the chip has converted", () => {
  const { chip, after } = rig({ filterHz: 60 });
  equal(after(1).reason, "no-data");
  chip.resistance = rtdResistance(42, 100);
  equal(after(10).reason, "no-data", "the first automatic conversion takes a one-shot's 52 ms");
  near(after(60).thermometer!.temperature, 42, 0.04);
});

test("max31865: open RTD is bad (rtd-high, then open-circuit from the lead check) and recovers", () => {
  const { chip, after, settle } = rig();
  chip.resistance = rtdResistance(85, 100);
  settle();
  chip.faults.open = true;
  const first = after(100);
  equal(first.quality, "bad");
  equal(first.reason, "rtd-high");
  equal(first.thermometer, undefined, "no value with a fault");
  equal(after(100).reason, "open-circuit");
  chip.faults.open = false;
  near(settle().thermometer!.temperature, 85, 0.04);
});

test("max31865: shorted RTD, FORCE- open and overvoltage each give their reason, then recover", () => {
  const cases = [["short", "rtd-low"], ["forceOpen", "force-open"], ["overvoltage", "overvoltage"]] as const;
  for (const [fault, reason] of cases) {
    const { chip, after, settle } = rig();
    chip.resistance = 110;
    settle();
    chip.faults[fault] = true;
    // FORCE- open leaves conversions looking valid: only the lead check at start sees it.
    if (fault === "forceOpen") {
      const { chip: fresh, after: afterFresh, settle: settleFresh } = rig();
      fresh.faults.forceOpen = true;
      equal(afterFresh(1).reason, reason);
      equal(afterFresh(100).reason, reason, "persists");
      fresh.faults.forceOpen = false;
      equal(settleFresh().quality, "good");
      continue;
    }
    const seen = [after(100), after(100)];
    assert(seen.every((s) => s.quality === "bad"), `${fault}: bad while present`);
    assert(seen.some((s) => s.reason === reason), `${fault}: reason ${reason}, got ${seen.map((s) => s.reason)}`);
    chip.faults[fault] = false;
    equal(settle().quality, "good", `${fault}: recovers`);
  }
});

test("max31865: a floating MISO is a bus fault and a power-cycled chip is reconfigured", () => {
  const { chip, bus, after, settle } = rig();
  settle();
  bus.misoStuck = 0xff;
  equal(after(100).reason, "bus");
  equal(after(100).reason, "restarting");
  bus.misoStuck = undefined;
  equal(settle().quality, "good", "recovers once the bus does");
  chip.powerOnReset();
  equal(after(100).reason, "restarting", "lost settings are noticed (configuration reads back 00h)");
  equal(settle().quality, "good");
});

test("max31865: no chip, or the wrong SPI mode, is a clear error at construction", () => {
  const { shared } = openBus([], 3, [SELECT]);
  throws(() => new Max31865({ sensor: { io: shared.io, select: SELECT } }), Error, /no MAX31865 answering/);
  throws(() => new Max31865({ sensor: { io: shared.io, select: SELECT + 1 } }), RangeError, /not one of this SPI bus's chip selects/);
  throws(() => rig({ busMode: 0 }), RangeError, /runs in mode 0; this chip asks for mode 3/);
  throws(() => rig({ busMode: 0, chipMode: 0 }), Error, /no MAX31865 answering/);
  const ok = rig({ busMode: 1, chipMode: 1 });
  equal(ok.settle().quality, "good", "mode 1 works as well as mode 3");
});

test("max31865: on the SDK's own select pin, mode 3 garbles the first transaction (why the firmware shares the bus)", () => {
  const { port } = wireBus([[SELECT, new SimMax31865()]]);
  // The SDK drives select low at construction, while SCLK still idles low: the chip takes CPOL 0.
  const direct = SPI as unknown as SPIConstructor;
  throws(() => new Max31865({ sensor: { io: direct, port, ...PINS, select: SELECT } }), Error, /no MAX31865 answering/);
});

/** Writes a register behind the driver's back, as a glitch or a confused chip would. */
function poke(chip: SimMax31865, register: number, value: number): void {
  chip.select();
  chip.exchange(0x80 | register);
  chip.exchange(value);
  chip.deselect();
}

test("max31865: a lead check that never ends, or conversions that stop, are noticed and restarted", () => {
  const { chip, after, settle } = rig();
  chip.resistance = 120;
  settle();
  poke(chip, MAX31865_REGISTERS.CONFIG, MAX31865_CONFIG.VBIAS | MAX31865_CONFIG.DETECT_MANUAL_1); // waits for cycle 2 forever
  equal(after(100).reason, "restarting");
  near(settle().resistance!, 120, 0.02);
  poke(chip, MAX31865_REGISTERS.CONFIG, MAX31865_CONFIG.VBIAS | MAX31865_CONFIG.THREE_WIRE); // automatic conversion off
  chip.resistance = 130;
  const frozen = after(100);
  equal(frozen.reason, "restarting", "a result that no longer changes is not reported as good");
  near(settle().resistance!, 130, 0.02);
});

test("max31865: a routine lead check every N samples finds a lead fault that conversions hide", () => {
  const { chip, after, settle } = rig({ leadCheckEvery: 5 });
  chip.resistance = 110;
  settle();
  const seen = Array.from({ length: 12 }, () => after(1000));
  const checks = seen.filter((s) => s.quality !== "good");
  equal(checks.length, 2, "one sample in six");
  assert(checks.every((s) => s.quality === "uncertain" && s.reason === "lead-check"), JSON.stringify(checks));
  chip.faults.forceOpen = true; // readings stay plausible
  const found = Array.from({ length: 7 }, () => after(1000));
  assert(found.some((s) => s.reason === "force-open"), JSON.stringify(found.map((s) => s.reason ?? s.quality)));
  chip.faults.forceOpen = false;
  equal(settle().quality, "good");
});

test("max31865: the fault thresholds sit just outside -200..850 C", () => {
  const { chip, after, settle } = rig();
  const low = rtdResistance(-200, 100) * 0.98;
  const high = rtdResistance(850, 100) * 1.02;
  for (const [ohms, expected] of [[rtdResistance(-200, 100), "good"], [low * 0.995, "rtd-low"], [rtdResistance(850, 100), "good"], [high * 1.005, "rtd-high"]] as const) {
    chip.resistance = ohms;
    settle();
    const s = after(100);
    equal(s.quality === "good" ? "good" : s.reason, expected, `${ohms.toFixed(2)} ohm`);
    chip.resistance = 100;
  }
});

test("max31865: fault status decoding follows datasheet table 7's bit order", () => {
  equal(max31865FaultReason(0x80), "rtd-high");
  equal(max31865FaultReason(0x40), "rtd-low");
  equal(max31865FaultReason(0x20), "open-circuit");
  equal(max31865FaultReason(0x18), "force-open");
  equal(max31865FaultReason(0x08), "rtdin-low");
  equal(max31865FaultReason(0x04), "overvoltage");
  equal(max31865FaultReason(0x01), "fault");
});
