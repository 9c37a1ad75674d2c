// Pins in use by ECMA-419 IO instances on the simulated board: as on the device, an SPI or Digital
// instance owns its pins until close(), and a pin the ESP32 cannot use for the purpose is refused.

import { gpioProblem } from "../../src/esp32-gpio";

const inUse = new Set<number>();

export function claimPins(pins: readonly [number, "input" | "output"][]): void {
  for (const [pin, use] of pins) if (gpioProblem(pin, use)) throw new RangeError("invalid pin");
  for (const [pin] of pins) if (inUse.has(pin)) throw new Error("in use");
  for (const [pin] of pins) inUse.add(pin);
}

export function releasePins(pins: readonly number[]): void {
  for (const p of pins) inUse.delete(p);
}
