// Why the node restarted, for the online status after every boot. The platform gives a number
// (ESP-IDF's esp_reset_reason_t through the SDK's `resetReason` module on ESP32; nothing on the
// simulator and the host target). A "software" reset is both a requested restart and an XS abort
// (the SDK's fxAbort ends in esp_restart()), so the firmware leaves a note before either one, and
// the note read at the next boot tells them apart and says what the abort was. Pure: runs on XS.

/** The status field `reset`: what an operator needs to tell apart. */
export type ResetReason =
  | "power-on" | "external" | "software" | "crash" | "panic" | "watchdog" | "brown-out" | "deep-sleep" | "unknown";

export interface ResetInfo {
  reset: ResetReason;
  /** The platform's own code (esp_reset_reason_t), -1 where the platform has none. */
  reset_code: number;
  /** Which watchdog, or what a crash or restart was (bounded, printable). */
  reset_detail?: string;
}

/**
 * esp_reset_reason_t (ESP-IDF esp_system.h): 0 unknown, 1 power-on, 2 external pin, 3 software
 * (esp_restart), 4 panic (exception or abort in C), 5 interrupt watchdog, 6 task watchdog, 7 other
 * watchdog, 8 deep sleep, 9 brown-out, 10 SDIO, 11 USB peripheral, 12 JTAG, 13 eFuse error, 14 power
 * glitch, 15 CPU lock-up. Codes past the table are "unknown" with the code kept.
 */
const ESP32: readonly [ResetReason, string?][] = [
  ["unknown"], ["power-on"], ["external", "reset pin"], ["software"], ["panic"],
  ["watchdog", "interrupt watchdog"], ["watchdog", "task watchdog"], ["watchdog", "other watchdog"],
  ["deep-sleep"], ["brown-out"], ["external", "sdio"], ["external", "usb"], ["external", "jtag"],
  ["panic", "efuse error"], ["brown-out", "power glitch"], ["panic", "cpu lock-up"],
];

/** A note's longest length: it lives in one preference (NVS values up to 4000 bytes; keep it small). */
export const MAX_NOTE_LENGTH = 120;

export type ResetNote = { kind: "restart"; why: string } | { kind: "abort"; why: string };

function printable(text: string, max: number): string {
  let out = "";
  for (let i = 0; i < text.length && out.length < max; i++) {
    const c = text.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f ? text[i] : "?";
  }
  return out;
}

/** The note written just before a restart the firmware asks for (a reboot command, a new identity). */
export function restartNote(why: string): string {
  return `restart ${printable(why, MAX_NOTE_LENGTH - 8)}`;
}

/** The note the abort hook writes (XS's message, e.g. "unhandled exception", and the exception's). */
export function abortNote(message: string, exception?: string): string {
  return `abort ${printable(exception ? `${message}: ${exception}` : message, MAX_NOTE_LENGTH - 6)}`;
}

export function parseNote(saved: unknown): ResetNote | undefined {
  if (typeof saved !== "string") return undefined;
  if (saved.startsWith("restart ")) return { kind: "restart", why: printable(saved.slice(8), MAX_NOTE_LENGTH) };
  if (saved.startsWith("abort ")) return { kind: "abort", why: printable(saved.slice(6), MAX_NOTE_LENGTH) };
  return undefined;
}

/**
 * The reset as the status reports it. code: the platform's number (undefined where there is none);
 * note: what the firmware left before the restart, already cleared by the caller so it is used once.
 */
export function describeReset(code: number | undefined, savedNote?: unknown): ResetInfo {
  const note = parseNote(savedNote);
  if (code === undefined || !Number.isInteger(code) || code < 0) {
    // No platform reason (simulator, host target): a note still says what the last run did.
    if (note?.kind === "abort") return { reset: "crash", reset_code: -1, reset_detail: note.why };
    if (note?.kind === "restart") return { reset: "software", reset_code: -1, reset_detail: note.why };
    return { reset: "unknown", reset_code: -1 };
  }
  const [reset, detail] = ESP32[code] ?? ["unknown"];
  if (reset === "software") {
    if (note?.kind === "restart") return { reset, reset_code: code, reset_detail: note.why };
    // esp_restart() that the firmware did not ask for: an XS abort, with its message when the hook saw it.
    return { reset: "crash", reset_code: code, reset_detail: note?.kind === "abort" ? note.why : "xs abort" };
  }
  // A note left before a reset of another kind is stale (the restart did not happen that way).
  return detail === undefined ? { reset, reset_code: code } : { reset, reset_code: code, reset_detail: detail };
}
