// The messages between the fleet driver (tools/soak/fleet.ts) and each device process
// (tools/soak/device.ts), over the child process's IPC channel.

/** A stretch of firmware time (ms since the epoch) during which the device's sensors misbehave. */
export interface SensorEvent {
  kind: "overheat" | "fault";
  fromMs: number;
  toMs: number;
}

export interface DeviceSetup {
  thing: string;
  /** Flash image, preferences and the ledger files. */
  state: string;
  /** ca.der, device.der, device-key.der. */
  resources: string;
  brokerPort: number;
  /** Firmware time this boot starts at. */
  startMs: number;
  /** mc/config overrides (the manifest's reference settings otherwise). */
  config: Record<string, unknown>;
  sensorEvents: SensorEvent[];
  /** Append the firmware's log to this file (debugging; big on long runs). */
  logFile?: string;
}

/** Billed AWS IoT messaging, from what the firmware published (5 KB units of topic plus payload). */
export interface Billing {
  messages: number;
  units: number;
  /** Topic plus payload bytes of everything published: the lower bound is bytes / 5120. */
  bytes: number;
  telemetryMessages: number;
  /** Billed units by topic kind (rules trigger per unit too). */
  telemetryUnits: number;
  alarmUnits: number;
  statusUnits: number;
  alarmMessages: number;
  statusMessages: number;
  /** Readings in telemetry publishes, resends included. */
  readingsPublished: number;
  connects: number;
}

export interface DeviceProgress {
  atMs: number;
  /** Records in flash not yet acknowledged. */
  pending: number;
  rssMb: number;
  billing: Billing;
}

export type ToDevice = { type: "limit"; ms: number } | { type: "stop"; drainMs: number };

export type FromDevice =
  | { type: "at"; progress: DeviceProgress }
  | { type: "stopped"; progress: DeviceProgress; droppedTotal: number; stillInFlash: number; sampled: number }
  | { type: "failed"; error: string };
