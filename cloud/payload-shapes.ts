// Where the fields the rules read sit in each payload, as IoT SQL expressions. This is the one place
// that knows the payloads' shapes: when the pipeline's versioned alarm payload ("schema v1") lands,
// only ALARM changes and every rule, the CDK app and the local mirror follow.

/** The firmware's batches today (README "Telemetry"), as src/telemetry/batch.ts writes them. */
export const TELEMETRY = {
  device: "device",
  boot: "boot",
  readings: "readings",
  /** Readings are in sequence order, so the first is the batch's key in the store. */
  firstSeq: "get(readings, 0).seq",
  /** Sampling time of the first reading: the batch's event date in the archive. */
  firstTs: "get(readings, 0).ts",
  /** Per reading (inside a nested SELECT over `readings`). */
  reading: {
    seq: "seq",
    ts: "ts",
    processTemperature: "max31865.temperature",
    /** A good sample carries no quality field; bad and uncertain ones do. */
    processTemperatureIsGood: "isUndefined(max31865.quality)",
  },
} as const;

/** The status messages today: `{"state":"online"|"offline",...}`, no event time of their own. */
export const STATUS = {
  device: "device",
  state: "state",
} as const;

/**
 * The alarm payload ASSUMED until the pipeline defines schema v1:
 * `{"device","seq","ts","channel":"max31865.temperature","state":"raised"|"cleared","value","limit"}`.
 * The firmware publishes no alarms yet (README "Not yet").
 */
export const ALARM = {
  device: "device",
  seq: "seq",
  ts: "ts",
  channel: "channel",
  state: "state",
  value: "value",
  limit: "limit",
  /** What makes a message on the alarm topic one the rules understand. */
  accept: "NOT isUndefined(seq) AND (state = 'raised' OR state = 'cleared')",
} as const;
