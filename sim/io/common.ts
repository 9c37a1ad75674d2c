// What the simulated ECMA-419 IO classes share: pin ownership (as on the device, an SPI or Digital
// instance owns its pins until close(), and a pin the ESP32 cannot use for the purpose is refused)
// and the IO buffer argument as bytes.

import { gpioProblem } from "../../src/esp32-gpio";
import { simBoard } from "sim/board";

export function claimPins(pins: readonly [number, "input" | "output"][]): void {
  for (const [pin, use] of pins) if (gpioProblem(pin, use)) throw new RangeError("invalid pin");
  const inUse = simBoard().pinsInUse;
  for (const [pin] of pins) if (inUse.has(pin)) throw new Error("in use");
  for (const [pin] of pins) inUse.add(pin);
}

export function releasePins(pins: readonly number[]): void {
  const inUse = simBoard().pinsInUse;
  for (const p of pins) inUse.delete(p);
}

export type BufferSource = ArrayBuffer | ArrayBufferView;

/** The bytes of an IO buffer argument, without copying. */
export function bytesOf(buffer: BufferSource): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError("invalid buffer");
}
