// Where the fields the rules read sit in each payload, as IoT SQL expressions. This is the one place
// that knows the payloads' shapes (payload schema 1, schema/payload-v1.schema.json): when it
// changes, every rule, the CDK app and the local mirror follow from here.

/** Telemetry batches as src/telemetry/batch.ts writes them (docs/telemetry.md). */
export const TELEMETRY = {
  device: "device",
  boot: "boot",
  readings: "readings",
  /** The batch's legend: each sensor's column names, the order of its values in every reading. */
  channels: "channels",
  /** The first reading's sequence number: the batch's key in the store. */
  firstSeq: "first_seq",
  /** Sampling time of the first reading: the batch's event date in the archive. */
  firstTs: "first_ts",
  /** Per reading (inside a nested SELECT over `readings`). */
  reading: {
    seq: "seq",
    ts: "ts",
    /** The MAX31865's one channel is its first column (a channel's value precedes its _min and _max). */
    processTemperature: "get(max31865, 0)",
    /** A good sensor is a plain array of values; a bad or uncertain one an object with a quality. */
    processTemperatureIsGood: "isUndefined(max31865.quality)",
  },
} as const;

/** The status messages today: `{"state":"online"|"offline",...}`, no event time of their own. */
export const STATUS = {
  device: "device",
  state: "state",
} as const;

/**
 * One alarm raise or clear, as src/telemetry/batch.ts alarmJson writes it:
 * `{"schema":1,"device","boot","seq","ts","channel":"max31865.temperature","alarm":"high"|"low"|"sensor-fault","state":"raised"|"cleared","value"?,"limit"?}`.
 */
export const ALARM = {
  device: "device",
  seq: "seq",
  ts: "ts",
  channel: "channel",
  state: "state",
  /** high, low or sensor-fault ("kind" is the archive's own partition field). */
  alarm: "alarm",
  value: "value",
  limit: "limit",
  /** What makes a message on the alarm topic one the rules understand. */
  accept: "NOT isUndefined(seq) AND (state = 'raised' OR state = 'cleared')",
} as const;

/**
 * A command's answer (src/fleet/commands.ts); the one the rules act on is a finished rotation:
 * `{"id":null,"command":"rotate","ok":true,"result":{"event":"identity-rotated","certificate":"<id>","replaced":"<id>"}}`,
 * certificate ids as AWS IoT names them (the SHA-256 of the DER, hex).
 */
export const RESPONSE = {
  command: "command",
  ok: "ok",
  event: "result.event",
  certificate: "result.certificate",
  replaced: "result.replaced",
  /** A rotation the device confirmed: it connects with the new certificate, the old may go. */
  rotated: "command = 'rotate' AND ok = true AND result.event = 'identity-rotated' AND NOT isUndefined(result.replaced) AND NOT isNull(result.replaced) AND result.replaced <> result.certificate",
} as const;
