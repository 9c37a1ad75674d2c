// An alarm raised or cleared, as its own flash-log record: written when it happens, so an alarm
// raised offline is delivered later, in order with the readings, and never lost. Pure.
//
// Binary form (record type 2), little endian:
//   u8   record type 2
//   u48  timestamp, ms since the epoch
//   u8   channel number (CHANNELS)
//   u8   bit 7: raised (1) or cleared (0); bit 6: boot-relative time; bit 3: value follows; bit 2:
//        limit follows; bits 1..0 kind (0 high, 1 low, 2 sensor-fault)
//   sleb value, sleb limit (if flagged), round(x * 10^decimals) of the channel
//   uleb boot (if boot-relative: the u48 then holds ms since that boot)

import { ByteReader, ByteWriter, CHANNELS, RecordFormatError } from "./reading";
import type { AlarmEvent, AlarmKind } from "../pipeline/alarms";

export const RECORD_ALARM = 2;
const KINDS: readonly AlarmKind[] = ["high", "low", "sensor-fault"];
const RAISED = 0x80;
const SINCE_BOOT = 0x40;
const VALUE = 0x08;
const LIMIT = 0x04;

/** The record type byte of any stored record (1: readings, 2: alarm). */
export function recordType(payload: Uint8Array): number {
  return payload.length > 0 ? payload[0] : -1;
}

export function encodeAlarm(e: AlarmEvent): Uint8Array {
  const channel = CHANNELS[e.channel];
  if (!channel) throw new RangeError(`unknown channel ${e.channel}`);
  const w = new ByteWriter();
  w.u8(RECORD_ALARM);
  let t = Math.max(0, Math.floor(e.sinceBoot ? e.sinceBoot.ms : e.ts));
  for (let i = 0; i < 6; i++) {
    w.u8(t % 256);
    t = Math.floor(t / 256);
  }
  w.u8(e.channel);
  const hasValue = e.value !== undefined && Number.isFinite(e.value);
  const hasLimit = e.limit !== undefined && Number.isFinite(e.limit);
  w.u8((e.state === "raised" ? RAISED : 0) | (e.sinceBoot ? SINCE_BOOT : 0) | (hasValue ? VALUE : 0) | (hasLimit ? LIMIT : 0) | KINDS.indexOf(e.kind));
  const scale = 10 ** channel.decimals;
  if (hasValue) w.sleb(Math.round(e.value! * scale));
  if (hasLimit) w.sleb(Math.round(e.limit! * scale));
  if (e.sinceBoot) w.uleb(e.sinceBoot.boot);
  return w.bytes.slice(0, w.length);
}

export function decodeAlarm(seq: number, payload: Uint8Array): AlarmEvent {
  const r = new ByteReader(payload);
  const type = r.u8();
  if (type !== RECORD_ALARM) throw new RecordFormatError(`record type ${type} is not an alarm`);
  let ts = 0;
  for (let i = 0, scale = 1; i < 6; i++, scale *= 256) ts += r.u8() * scale;
  const n = r.u8();
  const channel = CHANNELS[n];
  if (!channel) throw new RecordFormatError(`alarm record ${seq} names unknown channel ${n}`);
  const flags = r.u8();
  const kind = KINDS[flags & 3];
  if (!kind) throw new RecordFormatError(`alarm record ${seq} has unknown kind ${flags & 3}`);
  const event: AlarmEvent = { channel: n, kind, state: flags & RAISED ? "raised" : "cleared", ts };
  const scale = 10 ** channel.decimals;
  if (flags & VALUE) event.value = r.sleb() / scale;
  if (flags & LIMIT) event.limit = r.sleb() / scale;
  if (flags & SINCE_BOOT) {
    event.sinceBoot = { boot: r.uleb(), ms: ts };
    event.ts = 0;
  }
  if (flags & 0x30) throw new RecordFormatError(`alarm record ${seq} has unknown flags ${flags}`);
  if (r.offset !== payload.length) throw new RecordFormatError(`${payload.length - r.offset} bytes left over in alarm record ${seq}`);
  return event;
}
