// Moddable's `file` module on Node: the part of File the firmware's simulated flash uses, with the
// SDK's Linux behaviour (positioned reads and writes, each write on disk before it returns).

import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";

export class File {
  #fd: number | undefined;
  position = 0;

  constructor(path: string, write = false) {
    try {
      this.#fd = openSync(path, write ? "r+" : "r");
    } catch (error) {
      if (!write || (error as NodeJS.ErrnoException).code !== "ENOENT") throw new Error("file not found");
      this.#fd = openSync(path, "w+");
    }
  }

  get length(): number {
    return fstatSync(this.#open()).size;
  }

  read(_type: typeof ArrayBuffer, count?: number): ArrayBuffer {
    const size = this.length;
    if (this.position >= size) throw new Error("read past end of file");
    const length = count === undefined ? size - this.position : Math.min(count, size - this.position);
    const bytes = new Uint8Array(length);
    if (readSync(this.#open(), bytes, 0, length, this.position) !== length) throw new Error("file read failed");
    this.position += length;
    return bytes.buffer;
  }

  write(...items: ArrayBuffer[]): void {
    for (const item of items) {
      const bytes = new Uint8Array(item);
      writeSync(this.#open(), bytes, 0, bytes.length, this.position);
      this.position += bytes.length;
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #open(): number {
    if (this.#fd === undefined) throw new Error("file closed");
    return this.#fd;
  }
}
