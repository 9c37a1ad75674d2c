// "ota-platform" where a build has no update slots: the node runs without updates and says why.
import type { OtaPlatform } from "src/ota/update-service";

export default function openOtaPlatform(): OtaPlatform {
  throw new Error("this build has no OTA slots");
}
