// What the project's commands (npm start, npm run sim) share: their command line, stamped output,
// the dev certificates made on first use, and a broker given as mqtts://HOST:PORT.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { isHostName, isIPv4 } from "../src/net/broker-resolver.ts";

export interface Command {
  values: Record<string, string | boolean | undefined>;
  /** Prints "<name>: message" and exits 2. */
  fail(message: string): never;
  /** Writes text with every line stamped with the seconds since the command started. */
  say(text: string): void;
}

export function command(name: string, usage: string, options: NonNullable<ParseArgsConfig["options"]>): Command {
  const started = Date.now();
  const fail = (message: string): never => {
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(2);
  };
  let values: Command["values"];
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: "boolean", short: "h" } }, strict: true }) as { values: Command["values"] });
  } catch (error) {
    fail(`${(error as Error).message}\n${usage}`);
  }
  if (values!.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const say = (text: string) => {
    const stamp = `+${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s `;
    process.stdout.write(text.replace(/^(?=.)/gm, stamp));
  };
  return { values: values!, fail, say };
}

/**
 * The dev CA and this thing's device certificate, generated on first use (certs/generate.sh), and
 * staged in certs/out/moddable/ for builds (tests generate identities without staging them).
 */
export function ensureCertificates(root: string, thing: string, fail: (message: string) => never): string {
  const resources = join(root, "certs/out/devices", thing);
  const staged = join(root, "certs/out/moddable/THING");
  if (!existsSync(join(resources, "device-key.der")) || !existsSync(join(resources, "ota-key.der")) || !existsSync(staged) || readFileSync(staged, "utf8").trim() !== thing) {
    try {
      execFileSync(join(root, "certs/generate.sh"), [thing], { stdio: "inherit" });
    } catch {
      fail(`could not generate certificates for "${thing}" (see above)`);
    }
  }
  return resources;
}

export interface BrokerTarget {
  /** Host name or IPv4 address: the firmware looks a name up at each connect. */
  host: string;
  port: number;
}

/** mqtts://HOST:PORT as the firmware's broker settings (HOST: a host name or an IPv4 address). */
export function brokerFromUrl(text: string, fail: (message: string) => never): BrokerTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(`--broker must look like mqtts://HOST:PORT, got ${text}`);
  }
  if (url!.protocol !== "mqtts:") fail("--broker must use mqtts:// (the node speaks mutual TLS only)");
  const host = url!.hostname;
  if (!isIPv4(host) && !isHostName(host)) fail(`--broker host must be a host name or an IPv4 address, got ${host}`);
  return { host, port: url!.port ? Number(url!.port) : 8883 };
}
