// "resetReason" on the simulator and the host target: the SDK's module is ESP32 only (it returns
// esp_reset_reason()); here there is no platform reason, -1, and the note the last run left decides.
export default function getResetReason(): { reason: number; string: string } {
  return { reason: -1, string: "" };
}
