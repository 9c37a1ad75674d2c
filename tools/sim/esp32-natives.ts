// npm run sim -- --esp32-natives: the ESP32 OTA natives (esp32/ota/boot-control.c and .ts) built for
// the Moddable simulator over a fake ESP-IDF (esp32/ota/host-check/) and run: every check prints
// "ok" or "not ok", the last line "done <checks> <failures>". It needs the SDK, which CI does not
// install, so it is a command of its own rather than a test that would be skipped there.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { powerOff, runSimulator, type Sdk } from "./sdk.ts";

/** Exit code: 0 when every check passed (at least 56 ran). */
export async function runEsp32Natives(root: string, sdk: Sdk, say: (text: string) => void): Promise<number> {
  const out = mkdtempSync(join(tmpdir(), "esp32ota-host-check-"));
  try {
    execFileSync(sdk.mcconfig, ["-m", "-p", "lin", "-o", out], {
      cwd: join(root, "esp32/ota/host-check"),
      env: { ...process.env, MODDABLE: sdk.moddable, PATH: sdk.path },
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
    const child = runSimulator(sdk, join(out, "bin/lin/mc/release/host-check/mc.so"));
    let output = "";
    const done = await new Promise<RegExpExecArray | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 60_000);
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /^done (\d+) (\d+)$/m.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match);
        }
      });
      child.once("exit", () => {
        clearTimeout(timer);
        resolve(/^done (\d+) (\d+)$/m.exec(output) ?? undefined);
      });
    });
    await powerOff(child);
    say(output);
    if (!done) {
      say("esp32 natives: the check did not finish\n");
      return 1;
    }
    const [checks, failures] = [Number(done[1]), Number(done[2])];
    say(`esp32 natives: ${checks} checks, ${failures} failed\n`);
    return failures === 0 && checks >= 56 ? 0 : 1;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
