// On the host target the firmware's "net" is the SDK's Net module (host/moddable/net.ts), not Node's
// net: the loader maps it for the project's own files. @types/node declares "net" globally, which
// paths cannot override, so the one member the firmware uses is added to it here.
export {};

declare module "net" {
  export function resolve(name: string, callback: (name: string, address?: string) => void): void;
}
