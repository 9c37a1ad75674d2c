// The firmware version in every status message and heartbeat; package.json carries the same
// (host-tests/manifest.test.ts checks), since XS cannot read package.json at run time.
export const FIRMWARE_VERSION = "0.3.0";
