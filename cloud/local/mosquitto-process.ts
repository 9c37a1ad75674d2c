// Runs /usr/sbin/mosquitto (or `mosquitto` on PATH) with a generated configuration, and stops it.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { mosquittoConfig, type MosquittoConfigOptions } from "./mosquitto-config.ts";

export interface MosquittoProcess {
  port: number;
  log(): string;
  stop(): Promise<void>;
}

function portOpen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

export async function startMosquitto(options: MosquittoConfigOptions, startTimeoutMs = 5000): Promise<MosquittoProcess> {
  mkdirSync(options.dataDir, { recursive: true });
  const { conf, acl, aclPath, logPath } = mosquittoConfig(options);
  writeFileSync(aclPath, acl);
  const confPath = join(options.dataDir, "mosquitto.conf");
  writeFileSync(confPath, conf);
  const binary = existsSync("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";
  const child = spawn(binary, ["-c", confPath], { stdio: "ignore" });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (e) => reject(new Error(`cannot start mosquitto (apt-get install mosquitto): ${e.message}`)));
  });
  const log = () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + startTimeoutMs;
  while (!(await portOpen(options.port, options.host ?? "127.0.0.1"))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}:\n${log()}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`mosquitto did not listen on ${options.port} within ${startTimeoutMs} ms:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port: options.port, log, stop };
}
