// A fresh simulated SPI bus per test, wired as the firmware wires it (one SPI instance, chips
// selected by digital outputs through drivers/shared-spi.ts). The SDK drives one SPI bus and pins
// are exclusive, so opening a bus first closes whatever the previous test left open.

import SPI from "../../sim/io/spi";
import Digital from "../../sim/io/digital";
import { simBoard } from "../../sim/board";
import { SimSPIBus, type SPITarget } from "../../sim/spi-bus";
import { SharedSPI } from "../../drivers/shared-spi";

export const SPI_PINS = { clock: 25, out: 26, in: 27 };

let port = 100;
let cleanups: (() => void)[] = [];

/** Closes everything the previous rig opened. */
function closeRig(): void {
  for (const cleanup of cleanups.reverse()) cleanup();
  cleanups = [];
}

/** Runs cleanup when the next rig opens (in reverse order: drivers close before their bus). */
export function onClose(cleanup: () => void): void {
  cleanups.push(cleanup);
}

/** A new port with these chips on it, their selects wired to GPIO; no SPI instance yet. */
export function wireBus(chips: [number, SPITarget][]): { bus: SimSPIBus; port: number } {
  closeRig();
  const bus = new SimSPIBus();
  simBoard().spi.set(++port, bus);
  for (const [select, chip] of chips) {
    bus.attach(select, chip);
    simBoard().gpio.connect(select, bus.selectInput(select));
  }
  return { bus, port };
}

/** As the firmware: one SPI instance, the selects of `selectPins` (default: the chips') driven inactive. */
export function openBus(chips: [number, SPITarget][], mode = 3, selectPins = chips.map(([pin]) => pin)) {
  const { bus, port } = wireBus(chips);
  const spi = new SPI({ port, ...SPI_PINS, hz: 1e6, mode });
  const shared = new SharedSPI({ spi, hz: 1e6, mode, digital: Digital, selects: selectPins.map((pin) => ({ pin })) });
  onClose(() => shared.close());
  return { bus, spi, port, shared };
}
