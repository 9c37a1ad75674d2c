// ESP32 (WROOM/WROVER) GPIO facts that the configuration and the simulated board check pins against,
// so a pin the chip cannot use is a clear error before it becomes a crash or a boot loop. Pure.

/** 6..11 are the flash chip's; 20, 24 and 28..31 do not exist. */
const USABLE = new Set([0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39]);

/** Why a pin cannot serve this use, or undefined when it can. */
export function gpioProblem(pin: number, use: "input" | "output" | "select"): string | undefined {
  if (pin >= 6 && pin <= 11) return `GPIO ${pin} belongs to the flash chip`;
  if (!USABLE.has(pin)) return `GPIO ${pin} does not exist on ESP32`;
  if (pin === 1 || pin === 3) return `GPIO ${pin} is the serial console`;
  if (use !== "input" && pin >= 34) return `GPIO ${pin} is input only`;
  if (use === "select" && pin === 12) return "GPIO 12 is a strapping pin: a select's pull-up would pick 1.8 V flash at boot";
  return undefined;
}
