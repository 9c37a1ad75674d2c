// "system" on the simulator and the host target: as the SDK's, it defines globalThis.System. There is
// no restarting the firmware from inside (the SDK's Linux restart() loops forever), so canRestart is
// false and the node refuses the reboot command.
(globalThis as { System?: unknown }).System = Object.freeze({
  canRestart: false,
  restart(): void {
    throw new Error("this target cannot restart the firmware");
  },
});
export {};
