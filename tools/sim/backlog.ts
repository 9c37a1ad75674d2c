// A device's flash as it stands after an outage: the log partition's file (as the simulator's
// sim/io/flash.ts keeps it) holding `hours` of the reference device's windows, none acknowledged,
// written through the firmware's own FlashLog, so the simulator boots into a replay.

import { FileCells } from "../../sim/io/file-cells.ts";
import { SimNorFlash } from "../../sim/nor-flash.ts";
import { PARTITION_SIZES } from "../../sim/board.ts";
import { FlashLog } from "../../src/log/flash-log.ts";
import { encodeReport } from "../../src/telemetry/reading.ts";
import { referenceWindow, WINDOW_MS } from "../bench/workload.ts";

const SECTOR = 4096;

/**
 * Writes dir/flash-iiotlog.bin afresh (erased, then a new log) with the windows of the `hours`
 * before `endMs`. Returns the first sequence number still in the log (more than the partition holds
 * drops the oldest, by design) and how many records wait.
 */
export function writeBacklog(dir: string, hours: number, endMs: number): { first: number; pending: number } {
  const size = PARTITION_SIZES.iiotlog;
  const cells = new FileCells(`${dir}/flash-iiotlog.bin`, size, SECTOR);
  try {
    const flash = new SimNorFlash({ byteLength: size, blockSize: SECTOR, cells });
    for (let s = 0; s < size / SECTOR; s++) flash.erase(s);
    const log = new FlashLog(flash);
    const windows = Math.round((hours * 3_600_000) / WINDOW_MS);
    for (let i = 0; i < windows; i++) log.append(encodeReport(endMs - (windows - i) * WINDOW_MS, referenceWindow(i)));
    return { first: log.tailSeq, pending: log.pendingRecords };
  } finally {
    cells.close();
  }
}
