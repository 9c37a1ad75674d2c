// The SDK's "net" module on Node: Net.resolve(host, callback) looks a name up with the system's
// resolver (getaddrinfo, as the SDK's Linux build does through GLib) and answers with the first IPv4
// address, or undefined. The callback always comes on a later turn, as from the SDK's resolvers.

import { lookup } from "node:dns";

type Lookup = (host: string, callback: (error: Error | null, address?: string) => void) => void;

/** The lookup Net.resolve uses; tests replace it to make DNS fail or never answer. */
export const hostDns: { lookup: Lookup } = {
  lookup: (host, callback) => lookup(host, { family: 4 }, (error, address) => callback(error, address)),
};

export default class Net {
  static resolve(host: string, callback: (name: string, address?: string) => void): void {
    if (typeof host !== "string" || typeof callback !== "function") throw new TypeError("Net.resolve(host, callback)");
    hostDns.lookup(host, (error, address) => callback(host, error ? undefined : address));
  }

  static get(what: string): string | undefined {
    return what === "IP" ? "127.0.0.1" : undefined;
  }
}
