// Moddable's `file` module on Node: the part of File the firmware's simulated flash and preferences
// use, with the SDK's Linux behaviour (positioned reads and writes, each write on disk before it
// returns, rename within a folder or to an absolute path).

import { closeSync, existsSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";

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

  read(type: typeof ArrayBuffer, count?: number): ArrayBuffer;
  read(type: typeof String, count?: number): string;
  read(type: typeof ArrayBuffer | typeof String, count?: number): ArrayBuffer | string {
    const size = this.length;
    if (this.position >= size) throw new Error("read past end of file");
    const length = count === undefined ? size - this.position : Math.min(count, size - this.position);
    const bytes = new Uint8Array(length);
    if (readSync(this.#open(), bytes, 0, length, this.position) !== length) throw new Error("file read failed");
    this.position += length;
    return type === String ? new TextDecoder().decode(bytes) : bytes.buffer;
  }

  write(...items: (ArrayBuffer | string)[]): void {
    for (const item of items) {
      const bytes = typeof item === "string" ? new TextEncoder().encode(item) : new Uint8Array(item);
      writeSync(this.#open(), bytes, 0, bytes.length, this.position);
      this.position += bytes.length;
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  static exists(path: string): boolean {
    return existsSync(path);
  }

  static delete(path: string): boolean {
    try {
      unlinkSync(path);
      return true;
    } catch {
      return false;
    }
  }

  static rename(from: string, to: string): boolean {
    try {
      renameSync(from, isAbsolute(to) ? to : join(dirname(from), to));
      return true;
    } catch {
      return false;
    }
  }

  #open(): number {
    if (this.#fd === undefined) throw new Error("file closed");
    return this.#fd;
  }
}
