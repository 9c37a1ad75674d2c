// embedded:update for the simulator and the host target, over the simulated dual-slot device
// (sim/ota/dual-slot.ts). Same shape as the SDK's ESP32 module (modules/io/update): open({partition,
// mode, byteLength}) returns an updater with write(buffer[, byteOffset]), complete() and close();
// mode "a" appends in order, "w" writes at the given offsets; complete() ends the image and makes
// its slot the next boot (pending confirmation); close() before complete() abandons it. The
// partition is the string "nextota" here (the SDK takes an embedded:storage/flash instance opened
// on "nextota"). Like the SDK, opening starts the slot afresh; the OTA agent's resumable download
// uses the slot interface (src/ota/slot.ts) of the same device instead.

import type { SimOtaDevice } from "./dual-slot";
import type { UpdateSlot } from "../../src/ota/slot";

type ByteBuffer = ArrayBuffer | ArrayBufferView;

export interface UpdateOpenOptions {
  partition: "nextota";
  mode?: "a" | "w";
  byteLength?: number;
}

export interface Updater {
  write(bytes: ByteBuffer, byteOffset?: number): void;
  complete(): void;
  close(): void;
  readonly format: "buffer";
}

function view(bytes: ByteBuffer): Uint8Array {
  return bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The update module over one simulated device. */
export function simUpdateModule(device: SimOtaDevice): { open(options: UpdateOpenOptions): Updater } {
  return Object.freeze({
    open(options: UpdateOpenOptions): Updater {
      if (options.partition !== "nextota") throw new Error("partition not found");
      const mode = options.mode ?? "a";
      if (mode !== "a" && mode !== "w") throw new RangeError("invalid mode");
      const slot: UpdateSlot = device.updateSlot();
      const byteLength = options.byteLength ?? slot.capacity;
      if (!Number.isInteger(byteLength) || byteLength < 0 || byteLength > slot.capacity) throw new RangeError("invalid byteLength");
      slot.begin(slot.capacity, false);
      // The slot writes whole sectors: data is staged a sector at a time and written when full.
      const sector = new Uint8Array(slot.sectorSize);
      let staged = -1; // offset of the staged sector
      let appendAt = 0;
      let end = 0;
      let state: "open" | "complete" | "closed" = "open";
      const flush = () => {
        if (staged < 0) return;
        const n = Math.min(slot.sectorSize, slot.capacity - staged);
        slot.write(staged, sector, n);
        staged = -1;
      };
      const put = (bytes: Uint8Array, offset: number) => {
        if (offset < 0 || offset + bytes.length > slot.capacity) throw new RangeError("invalid offset");
        for (let i = 0; i < bytes.length; ) {
          const at = offset + i;
          const start = at - (at % slot.sectorSize);
          if (staged !== start) {
            flush();
            // keep what the sector already holds (a scattered write may revisit it)
            slot.read(start, sector, Math.min(slot.sectorSize, slot.capacity - start));
            staged = start;
          }
          const n = Math.min(bytes.length - i, start + slot.sectorSize - at);
          sector.set(bytes.subarray(i, i + n), at - start);
          i += n;
        }
        end = Math.max(end, offset + bytes.length);
      };
      return {
        get format(): "buffer" {
          return "buffer";
        },
        write(bytes: ByteBuffer, byteOffset?: number) {
          if (state !== "open") throw new Error("already complete");
          const data = view(bytes);
          if (mode === "a") {
            if (byteOffset !== undefined) throw new Error("offset not allowed");
            put(data, appendAt);
            appendAt += data.length;
          } else {
            if (byteOffset === undefined) throw new SyntaxError("offset required");
            put(data, byteOffset);
          }
        },
        complete() {
          if (state !== "open") throw new Error("already complete");
          flush();
          state = "complete";
          slot.activate();
        },
        close() {
          if (state === "open") slot.abort();
          state = "closed";
        },
      };
    },
  });
}
