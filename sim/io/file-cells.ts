// Simulated NOR cells kept in a file through Moddable's `file` module (real files on the simulator,
// Node's fs on the host target). Every write reaches the file before it returns (the SDK's Linux
// file module flushes each write), so killing the process is a power cut: the file then holds what
// a powered-off chip would. The XS heap holds only the bytes of the operation in progress.

import { File } from "file";
import type { NorCells } from "../nor-flash";

export class FileCells implements NorCells {
  #file: File;

  /** Opens or creates path; a new file starts erased (0xFF), an existing one must be byteLength long. */
  constructor(path: string, byteLength: number, blockSize: number) {
    this.#file = new File(path, true);
    const length = this.#file.length;
    if (length === byteLength) return;
    if (length !== 0) {
      this.#file.close();
      throw new Error(`${path} is ${length} bytes, the partition ${byteLength}: move it away to start afresh`);
    }
    const erased = new Uint8Array(blockSize).fill(0xff).buffer;
    for (let offset = 0; offset < byteLength; offset += blockSize) {
      this.#file.position = offset;
      this.#file.write(erased);
    }
  }

  read(offset: number, length: number): Uint8Array {
    this.#file.position = offset;
    return new Uint8Array(this.#file.read(ArrayBuffer, length));
  }

  write(offset: number, bytes: Uint8Array): void {
    this.#file.position = offset;
    // The SDK's write takes an ArrayBuffer, not a view.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    this.#file.write(whole ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer));
  }

  close(): void {
    this.#file.close();
  }
}
