// Live XS slots of what the firmware keeps for the run, measured on the real XS engine (xsnap): each
// program builds the object, keeps it, collects garbage, and the engine reports the slots in use;
// a program that builds nothing is the baseline. Slot counts compare one to one with an ESP32's.

import { bundleForXs, runBundleOnXs } from "../../host-tests/xs/harness";
import type { Figure } from "./report.ts";

/**
 * Live slots after `build` ran and its result was kept, minus the same program keeping only `base`
 * (what the build refers to: without it the bundler would drop the modules, and the difference would
 * count their code, which a device keeps in flash).
 */
async function liveSlots(imports: string, build: string, base: string): Promise<number> {
  const run = async (keep: string) => {
    const code = await bundleForXs(`${imports}\nglobalThis.__keep = ${keep};\ngc();\nreport(0);`);
    return (await runBundleOnXs(code)).heapSlots;
  };
  return (await run(`[${build}, ${base}]`)) - (await run(base));
}

export async function memoryFigures(): Promise<Figure[]> {
  const board = await liveSlots(`import { simBoard } from "./sim/board.ts";`, "simBoard()", "[simBoard]");
  // A log whose 2 MiB partition is full of unacknowledged records (about 14 h of the reference
  // device offline): mounted from flash, as at the first boot after such an outage.
  const fullLog = await liveSlots(
    `import { FlashLog } from "./src/log/flash-log.ts";
import { SimNorFlash } from "./sim/nor-flash.ts";
import { encodeReport } from "./src/telemetry/reading.ts";
import { referenceWindow } from "./tools/bench/workload.ts";
const flash = new SimNorFlash({ byteLength: 0x200000, blockSize: 4096, random: () => 0.5 });
{
  const filling = new FlashLog(flash);
  for (let i = 0; filling.dropped === 0; i++) filling.append(encodeReport(1795000000000 + i * 1000, referenceWindow(i)));
}
`,
    "new FlashLog(flash)",
    "[FlashLog, flash]",
  );
  return [
    { name: "memory.sim_board_slots", value: board, unit: "slots", note: "the simulated reference board (four chips, buses, GPIO) kept by the simulator build and the host target; none of it exists on a device" },
    { name: "memory.flash_log_full_slots", value: fullLog, unit: "slots", note: "a FlashLog mounted on a 2 MiB partition full of unacknowledged records (512 sectors, about 14 h of the reference device): per-sector state is in typed arrays (4.5 KiB of chunk), not objects; the count varies by a few tens of slots with the program's own bookkeeping" },
  ];
}
