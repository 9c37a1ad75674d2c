// What every driver's sample() returns besides its measurements: a value is never wrong silently.

export type Quality = "good" | "bad" | "uncertain";

export interface SampleQuality {
  quality: Quality;
  /** Why the sample is not good: "crc", "nack", "bus", "no-data", "restarting", ... */
  reason?: string;
}

/** Maps a bus exception to a reason code. ECMA-419 on ESP32 reports NACK as "read failed"/"write failed". */
export function busFailureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/stuck|timeout|busy/i.test(message)) return "bus";
  if (/fail|nack/i.test(message)) return "nack";
  return "bus";
}
