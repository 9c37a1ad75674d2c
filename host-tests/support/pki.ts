// Test identities from certs/generate.sh: the repository's dev PKI, and a rogue PKI whose CA no
// broker trusts.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
export const SUBSCRIBER = "iiot-test-subscriber";

export interface Pki {
  dir: string;
  /** Folder with a device's ca.der, device.der, device-key.der (Moddable resources). */
  resources(thing: string): string;
  tlsOptions(thing: string): { ca: Buffer; cert: Buffer; key: Buffer };
}

function pkiAt(dir: string): Pki {
  return {
    dir,
    resources: (thing) => join(dir, "devices", thing),
    tlsOptions: (thing) => ({
      ca: readFileSync(join(dir, "ca.pem")),
      cert: readFileSync(join(dir, "devices", thing, "device.pem")),
      key: readFileSync(join(dir, "devices", thing, "device.key")),
    }),
  };
}

export function devPki(...things: string[]): Pki {
  const dir = join(root, "certs/out");
  execFileSync(join(root, "certs/generate.sh"), ["--no-stage", ...things], { stdio: "ignore" });
  return pkiAt(dir);
}

export function roguePki(...things: string[]): Pki {
  const dir = mkdtempSync(join(tmpdir(), "iiot-rogue-pki-"));
  execFileSync(join(root, "certs/generate.sh"), ["--out", dir, "--no-stage", ...things], { stdio: "ignore" });
  return pkiAt(dir);
}
