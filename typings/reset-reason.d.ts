// The SDK's ESP32-only `resetReason` module (build/devices/esp32/modules/resetReason, SDK 8.2.3):
// the default export returns ESP-IDF's esp_reset_reason() as a number and the SDK's English name for
// it ("Invalid" past the names the SDK knows). Neither @moddable/typings nor the SDK declare it.
declare module "resetReason" {
  export default function getResetReason(): { reason: number; string: string };
}
