// The SDK's "system" module (modules/io/system, included on ESP32 by modules/io's manifest) exports
// nothing: importing it defines globalThis.System, whose restart() is esp_restart(). The simulator and
// the host target map "system" to a stand-in whose canRestart is false, since their restart() could
// not bring the firmware back (on Linux the SDK's loops forever). src/main.ts reads it off globalThis.
declare module "system" {}
