// The part of the SDK's typings/crypt.d.ts that esp32/ota/platform.ts uses (the @moddable/typings
// package lacks the module). For esp32/tsconfig.json only: mcconfig uses the SDK's own.
declare module "crypt" {
  export class Digest {
    constructor(type: "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512");
    write(message: string | ArrayBuffer): void;
    close(): ArrayBuffer;
    reset(): void;
  }
}
