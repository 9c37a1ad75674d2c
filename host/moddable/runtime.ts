// Where the host target keeps what a device keeps in flash partitions: resources (certificates)
// and preferences. The runner or a test sets these before the firmware starts.

import { resolve } from "node:path";

export const hostPaths = {
  /** Folder whose files stand for the manifest's resources (Resource("name")). */
  resources: resolve("certs/out/moddable"),
  /** Folder for preference.json and other state that survives a restart. */
  state: resolve(".state/host"),
};

export function setHostPaths(paths: Partial<typeof hostPaths>): void {
  Object.assign(hostPaths, paths);
}

/** Moddable's trace(): the firmware's console. Hosts may redirect it. */
export const traceSink: { write: (text: string) => void } = { write: (text) => void process.stdout.write(text) };

const globals = globalThis as { trace?: unknown };
if (typeof globals.trace !== "function") {
  const trace = (...parts: unknown[]) => traceSink.write(parts.map(String).join(""));
  globals.trace = Object.assign(trace, { left: trace, right: trace, center: trace });
}
