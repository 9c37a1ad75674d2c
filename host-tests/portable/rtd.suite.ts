// PT100/PT1000 conversion against the IEC 60751 table, and the MAX31865 RTD code.

import { test, near, assert, equal } from "./api";
import { max31865Code, max31865Resistance, rtdResistance, rtdTemperature } from "../../drivers/max31865/rtd";

/** IEC 60751 PT100 table (ohms), every 100 C from -200 to 800 C, and 850 C. */
const IEC_60751_PT100: [number, number][] = [
  [-200, 18.52], [-100, 60.26], [0, 100.0], [100, 138.51], [200, 175.86], [300, 212.05],
  [400, 247.09], [500, 280.98], [600, 313.71], [700, 345.28], [800, 375.7], [850, 390.48],
];

test("rtd: resistance matches the IEC 60751 PT100 table from -200 C to 850 C", () => {
  for (const [t, ohms] of IEC_60751_PT100) near(rtdResistance(t, 100), ohms, 0.005, `${t} C`);
});

test("rtd: temperature from resistance inverts the table, below 0 C too", () => {
  for (const [t, ohms] of IEC_60751_PT100) near(rtdTemperature(ohms, 100), t, 0.02, `${ohms} ohm`);
  for (let t = -200; t <= 850; t += 0.5) {
    near(rtdTemperature(rtdResistance(t, 100), 100), t, 1e-6, `PT100 round trip at ${t} C`);
    near(rtdTemperature(rtdResistance(t, 1000), 1000), t, 1e-6, `PT1000 round trip at ${t} C`);
  }
});

test("rtd: an open or shorted sensor is not a temperature", () => {
  assert(Number.isNaN(rtdTemperature(0, 100)), "short");
  assert(Number.isNaN(rtdTemperature(5, 100)), "far below -200 C");
  assert(Number.isNaN(rtdTemperature(1000, 100)), "far above 850 C");
});

test("rtd: MAX31865 code with a 430 ohm reference resolves 0.013 ohm, about 0.03 C on a PT100", () => {
  const code = max31865Code(rtdResistance(85, 100), 430);
  near(rtdTemperature(max31865Resistance(code, 430), 100), 85, 0.04);
  equal(max31865Code(500, 430), 32767, "clamped at full scale");
});
