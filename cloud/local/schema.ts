// The local mirror's tables. Readings, alarms and threshold alerts are one row each, keyed by
// (device, seq): the firmware resends after reconnects and restarts, and an insert that finds its
// key already there does nothing, so a resend never stores a reading twice.

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS readings (
  device text NOT NULL,
  seq bigint NOT NULL,
  ts timestamptz NOT NULL,            -- sampling time (the reading's own ts)
  published_boot integer,             -- the boot that published it, not the one that sampled it
  data jsonb NOT NULL,                -- the reading as sent: every sensor, qualities and reasons
  received_at timestamptz NOT NULL,   -- first arrival
  PRIMARY KEY (device, seq)
);
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (device, ts);

CREATE TABLE IF NOT EXISTS alarms (
  device text NOT NULL,
  seq bigint NOT NULL,
  ts timestamptz,
  channel text,
  state text,
  value double precision,
  limit_value double precision,
  data jsonb NOT NULL,                -- the alarm message as sent
  received_at timestamptz NOT NULL,
  PRIMARY KEY (device, seq)
);

CREATE TABLE IF NOT EXISTS threshold_alerts (
  device text NOT NULL,
  seq bigint NOT NULL,                -- the reading above the limit
  ts timestamptz NOT NULL,
  channel text NOT NULL,
  temperature double precision NOT NULL,
  limit_c double precision NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (device, seq)
);

CREATE TABLE IF NOT EXISTS certificate_deactivations (
  device text NOT NULL,
  certificate_id text NOT NULL,       -- the replaced certificate (AWS id: SHA-256 of the DER, hex)
  replaced_by text NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (device, certificate_id)
);

CREATE TABLE IF NOT EXISTS device_status (
  device text NOT NULL,
  received_at timestamptz NOT NULL,
  state text,
  data jsonb NOT NULL,                -- online/offline/heartbeat as sent
  PRIMARY KEY (device, received_at)
);
`;
