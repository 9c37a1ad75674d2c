// The Moddable SDK as npm run sim uses it: the user's own install (its Getting Started guide),
// checked before anything runs so that what is missing is named, never half-failed at.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, delimiter, join } from "node:path";

export interface Sdk {
  moddable: string;
  mcconfig: string;
  mcsim: string;
  /** PATH for mcconfig: its tools and a TypeScript 6 or 7 tsc first. */
  path: string;
  /** How to run mcsim: directly on a display, or under xvfb-run. */
  display: "x" | "xvfb";
}

function which(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

function tscMajor(tsc: string): number | undefined {
  try {
    const version = execFileSync(tsc, ["--version"], { encoding: "utf8" });
    return Number(/Version (\d+)\./.exec(version)?.[1]);
  } catch {
    return undefined;
  }
}

/** Finds the SDK's Linux tools, a suitable tsc and a display; throws an Error naming each thing missing. */
export function findSdk(root: string): Sdk {
  const problems: string[] = [];
  const moddable = process.env.MODDABLE ?? "";
  if (!moddable) problems.push("$MODDABLE is not set: install the Moddable SDK for Linux as its Getting Started guide says (documentation/Moddable SDK - Getting Started.md) and export MODDABLE");
  else if (!existsSync(join(moddable, "build/makefiles/lin"))) problems.push(`$MODDABLE (${moddable}) is not a Moddable SDK checkout`);
  const toolDir = join(moddable, "build/bin/lin/release");
  const basePath = `${toolDir}${delimiter}${process.env.PATH ?? ""}`;
  const mcconfig = which("mcconfig", basePath);
  const mcsim = which("mcsim", basePath);
  if (moddable && (!mcconfig || !mcsim)) problems.push(`the SDK's Linux tools are not built (no ${!mcconfig ? "mcconfig" : "mcsim"} in ${toolDir}): cd $MODDABLE/build/makefiles/lin && make`);
  // mcconfig runs "tsc" from PATH: the user's if it is 6 or 7, else the project's own (devDependencies).
  let path = basePath;
  const userTsc = which("tsc", basePath);
  if (!userTsc || ![6, 7].includes(tscMajor(userTsc) ?? 0)) {
    const ownBin = join(root, "node_modules/.bin");
    const own = which("tsc", ownBin);
    if (own && [6, 7].includes(tscMajor(own) ?? 0)) path = `${toolDir}${delimiter}${ownBin}${delimiter}${process.env.PATH ?? ""}`;
    else problems.push(`no TypeScript 6 or 7 tsc (found ${userTsc ? `${userTsc}, version ${tscMajor(userTsc)}` : "none"} on PATH, and none in node_modules: run npm install)`);
  }
  const display = process.env.DISPLAY ? "x" : "xvfb";
  if (display === "xvfb" && !which("xvfb-run", process.env.PATH ?? "")) problems.push("no display ($DISPLAY unset) and no xvfb-run to make one: apt-get install xvfb xauth");
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return { moddable, mcconfig: mcconfig!, mcsim: mcsim!, path, display };
}

/**
 * Builds the manifest in `dir` for the simulator (mcconfig -m -p lin, plus -i for instrumentation)
 * with key=value settings; returns the mc.so it made. The build's output goes to logFile.
 */
export function buildSimulator(sdk: Sdk, dir: string, settings: Record<string, string | number>, options: { instrument: boolean; logFile: string; outDir?: string }): string {
  // mcconfig builds under $MODDABLE/build unless told otherwise (-o): two runs building the same
  // manifest folder name there (two checkouts, two agents) would overwrite each other's mc.so.
  const out = options.outDir ?? join(sdk.moddable, "build");
  if (options.outDir) mkdirSync(out, { recursive: true });
  const args = ["-m", "-p", "lin", ...(options.instrument ? ["-i"] : []), ...(options.outDir ? ["-o", out] : []), ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)];
  try {
    const output = execFileSync(sdk.mcconfig, args, { cwd: dir, env: { ...process.env, MODDABLE: sdk.moddable, PATH: sdk.path }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
    writeFileSync(options.logFile, output);
  } catch (error) {
    const e = error as { stdout?: Buffer; stderr?: Buffer };
    const output = `${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`;
    writeFileSync(options.logFile, output);
    throw new Error(`mcconfig ${args.join(" ")} failed in ${dir}:\n${output.split("\n").filter((l) => !/^# (cc|xsc|tsc|xsid)/.test(l)).slice(-25).join("\n")}`);
  }
  const so = join(out, "bin/lin/mc", options.instrument ? "instrument" : "release", basename(dir), "mc.so");
  if (!existsSync(so)) throw new Error(`mcconfig succeeded but ${so} is missing`);
  return so;
}

/** Starts mcsim on mc.so (under xvfb-run when there is no display) in its own process group. */
export function runSimulator(sdk: Sdk, so: string): ChildProcess {
  // stdbuf: mcsim writes trace() through stdio, which would hold lines back when piped.
  const [command, args] = sdk.display === "x" ? ["stdbuf", ["-oL", sdk.mcsim, so]] : ["xvfb-run", ["-a", "stdbuf", "-oL", sdk.mcsim, so]];
  return spawn(command as string, args as string[], { stdio: ["ignore", "pipe", "pipe"], detached: true });
}

/**
 * Ends the simulator and its display at once, as a power cut would (SIGKILL to the whole group), and
 * resolves once it has exited: a second mcsim on the same flash file would be two chips on one bus.
 */
export async function powerOff(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    return; // already gone
  }
  await exited;
}
