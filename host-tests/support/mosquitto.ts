// A real Mosquitto started by the test on a free loopback port with a generated mutual-TLS config:
// only clients with a certificate from the dev CA get in.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

export interface Mosquitto {
  port: number;
  log(): string;
  stop(): Promise<void>;
  /** SIGKILL: no clean shutdown, as in a crash. */
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}:\n${readFileSync(logFile, "utf8")}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
}

export async function startMosquitto(options: { certsDir: string; port?: number }): Promise<Mosquitto> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "iiot-mosquitto-"));
  const logFile = join(dir, "mosquitto.log");
  const c = options.certsDir;
  const lines = [
    // Run as the invoking user: as root, Mosquitto would drop to "mosquitto", which cannot read the keys.
    `user ${userInfo().username}`,
    "per_listener_settings true",
    "persistence false",
    `log_dest file ${logFile}`,
    "log_type error",
    "log_type warning",
    "log_type notice",
    `listener ${port} 127.0.0.1`,
    `cafile ${join(c, "ca.pem")}`,
    `certfile ${join(c, "broker.pem")}`,
    `keyfile ${join(c, "broker.key")}`,
    "tls_version tlsv1.2",
    "require_certificate true",
    "use_identity_as_username true",
    "allow_anonymous false",
  ];
  writeFileSync(join(dir, "mosquitto.conf"), lines.join("\n") + "\n");
  const child = spawn("mosquitto", ["-c", join(dir, "mosquitto.conf")], { stdio: "ignore" });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (e) => reject(new Error(`cannot start mosquitto (install it: apt-get install mosquitto): ${e.message}`)));
  });
  await spawned;
  await waitForPort(port, child, logFile, 5000);
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(name);
    await exited;
  };
  return {
    port,
    log: () => readFileSync(logFile, "utf8"),
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
  };
}
