// "system" on the simulator and the host target: as the SDK's, it defines globalThis.System. The
// firmware cannot restart itself here (the SDK's Linux restart() loops forever) unless whoever runs
// it installs a restart, as the host target's runner and tests do (host/firmware.ts): a power cycle
// in the same process. Without one, canRestart is false and the node refuses the reboot command.

let restartHandler: (() => void) | undefined;

/** Installs (or removes) what System.restart() does. */
export function setRestartHandler(handler: (() => void) | undefined): void {
  restartHandler = handler;
}

(globalThis as { System?: unknown }).System = Object.freeze({
  get canRestart(): boolean {
    return restartHandler !== undefined;
  },
  restart(): void {
    if (!restartHandler) throw new Error("this target cannot restart the firmware");
    restartHandler();
  },
});
