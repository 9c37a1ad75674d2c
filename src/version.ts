// The firmware version reported in every status message.
export const FIRMWARE_VERSION = "0.3.0";
