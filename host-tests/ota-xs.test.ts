// The OTA portable suites on the real XS engine, one vitest result per XS result: exactly the cases
// they register on Node.
import { test, expect } from "vitest";
import { runOnXs } from "./xs/harness.ts";
import { registry } from "./portable/api.ts";
import "./portable/ota-suites.ts";

const expected = registry.map((t) => t.name);
const run = await runOnXs(["host-tests/portable/ota-suites.ts"]);

test("xs: ran exactly the cases the OTA suites register", () => {
  expect(expected.length).toBeGreaterThan(0);
  expect(run.results.map((r) => r.name)).toStrictEqual(expected);
});

for (const result of run.results) {
  test(`xs: ${result.name}`, () => {
    if (!result.ok) expect.fail(result.error);
  });
}

// What verification costs on XS, in XS's own metering (computrons; BigInt arithmetic is native code
// in XS, so one ECDSA verification is cheap next to hashing the image in JavaScript).
test("xs: one ECDSA P-256 verification costs less than hashing 16 KB with the pure SHA-256", async () => {
  const { bundleForXs, runBundleOnXs } = await import("./xs/harness.ts");
  const prelude = `import { parsePublicKey, verifyP256 } from "./src/ota/p256.ts";
import { Sha256, fromHex } from "./src/ota/sha256.ts";
const key = parsePublicKey(fromHex("3059301306072a8648ce3d020106082a8648ce3d03010703420004d82458a7de3db8136488482ec4c03bf4703c29af9f8fdf5bb1dab12adad530335e1d64834af1c4a77e9c75e1c722265a8945f4f118ddc8f5468724caf5a7f7d3"));
const digest = fromHex("${"0".repeat(64)}");
const sig = fromHex("304402200a660e9a5ea39a9216ade285a1d00b7500d00e1978a1e158d1d25310aa40645102205e6a0a4282e5ff83859e28f776233ae357198b116fd8bb3f912507bd62feddd2");
const block = new Uint8Array(4096);
`;
  const run = async (body: string) => (await runBundleOnXs(await bundleForXs(prelude + body))).compute;
  const base = await run("report(0);");
  const verify = (await run("report(verifyP256(key, digest, sig));")) - base;
  const hash16k = (await run("const h = new Sha256(); for (let i = 0; i < 4; i++) h.update(block); h.digest(); report(0);")) - base;
  console.log(`figure ota.xs_compute_ecdsa_verify ${verify} computrons; ota.xs_compute_sha256_16k ${hash16k} computrons`);
  expect(verify).toBeGreaterThan(0);
  expect(verify).toBeLessThan(hash16k);
});
