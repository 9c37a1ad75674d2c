// "ota-platform": what each target gives the firmware updates (src/ota/update-service.ts OtaPlatform):
// sim/ota/platform.ts on the simulator and the host target, the ESP32's slots on a board. The
// manifest maps the specifier per platform; this declares it for the firmware's compile.
declare module "ota-platform" {
  import type { OtaPlatform } from "src/ota/update-service";
  export default function openOtaPlatform(): OtaPlatform;
}
