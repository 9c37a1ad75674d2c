// Moddable's Resource on Node: resources are files in hostPaths.resources, returned as ArrayBuffers.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hostPaths } from "./runtime.ts";

/** A resource is a buffer of the file's bytes, as Moddable's Resource is a (read-only) host buffer. */
export default class Resource extends ArrayBuffer {
  constructor(path: string) {
    const file = join(hostPaths.resources, path);
    if (!existsSync(file)) throw new Error(`Resource not found: ${path} (looked in ${hostPaths.resources}; run certs/generate.sh)`);
    const bytes = readFileSync(file);
    super(bytes.length);
    new Uint8Array(this).set(bytes);
  }

  static exists(path: string): boolean {
    return existsSync(join(hostPaths.resources, path));
  }
}
