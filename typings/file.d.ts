// The part of the SDK's `file` module the simulated flash uses (modules/files/file/file.js). The npm
// @moddable/typings declaration of it does not pass a strict check (implicit any in Directory).
declare module "file" {
  export class File {
    constructor(path: string, write?: boolean);
    read(type: typeof ArrayBuffer, count?: number): ArrayBuffer;
    write(...items: ArrayBuffer[]): void;
    close(): void;
    readonly length: number;
    position: number;
  }
}
