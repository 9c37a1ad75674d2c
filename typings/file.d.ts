// The part of the SDK's `file` module the simulated flash and preferences use
// (modules/files/file/file.js). The npm @moddable/typings declaration of it does not pass a strict
// check (implicit any in Directory).
declare module "file" {
  export class File {
    constructor(path: string, write?: boolean);
    read(type: typeof ArrayBuffer, count?: number): ArrayBuffer;
    read(type: typeof String, count?: number): string;
    write(...items: (ArrayBuffer | string)[]): void;
    close(): void;
    readonly length: number;
    position: number;
    static exists(path: string): boolean;
    static delete(path: string): boolean;
    /** to: a name in from's folder, or an absolute path. */
    static rename(from: string, to: string): boolean;
  }
}
