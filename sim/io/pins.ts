// Pins in use by ECMA-419 IO instances on the simulated board: as on the device, an SPI or Digital
// instance owns its pins until close().

const inUse = new Set<number>();

export function claimPins(pins: readonly number[]): void {
  for (const p of pins) if (inUse.has(p)) throw new Error("in use");
  for (const p of pins) inUse.add(p);
}

export function releasePins(pins: readonly number[]): void {
  for (const p of pins) inUse.delete(p);
}
