// BME280 compensation, the datasheet's integer reference formulas (BST-BME280-DS002, 4.2.3):
// 32-bit for temperature and humidity, 64-bit for pressure (BigInt here, so the result is bit-exact
// with the C reference on every engine). Pure: runs on XS too.

export interface Bme280Calibration {
  T1: number; T2: number; T3: number;
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number;
  H1: number; H2: number; H3: number; H4: number; H5: number; H6: number;
}

const u16 = (b: ArrayLike<number>, i: number) => b[i] | (b[i + 1] << 8);
const s16 = (b: ArrayLike<number>, i: number) => (u16(b, i) << 16) >> 16;
const s8 = (v: number) => (v << 24) >> 24;

/** Parses calibration registers 0x88..0xA1 (26 bytes) and 0xE1..0xE7 (7 bytes), datasheet table 16. */
export function parseCalibration(tp: ArrayLike<number>, h: ArrayLike<number>): Bme280Calibration {
  if (tp.length < 26 || h.length < 7) throw new RangeError("BME280 calibration needs 26 + 7 bytes");
  return {
    T1: u16(tp, 0), T2: s16(tp, 2), T3: s16(tp, 4),
    P1: u16(tp, 6), P2: s16(tp, 8), P3: s16(tp, 10), P4: s16(tp, 12), P5: s16(tp, 14), P6: s16(tp, 16),
    P7: s16(tp, 18), P8: s16(tp, 20), P9: s16(tp, 22),
    H1: tp[25],
    H2: s16(h, 0), H3: h[2],
    H4: (s8(h[3]) << 4) | (h[4] & 0x0f),
    H5: (s8(h[5]) << 4) | (h[4] >> 4),
    H6: s8(h[6]),
  };
}

/** Returns [temperature in 0.01 degC, t_fine]. */
export function compensateTemperature(adcT: number, c: Bme280Calibration): [number, number] {
  const var1 = ((((adcT >> 3) - (c.T1 << 1))) * c.T2) >> 11;
  const d = (adcT >> 4) - c.T1;
  const var2 = (((d * d) >> 12) * c.T3) >> 14;
  const tFine = var1 + var2;
  return [(tFine * 5 + 128) >> 8, tFine];
}

/** Pressure in Pa as Q24.8 (divide by 256), or 0 when the calibration would divide by zero. */
export function compensatePressure(adcP: number, tFine: number, c: Bme280Calibration): number {
  let var1 = BigInt(tFine) - 128000n;
  let var2 = var1 * var1 * BigInt(c.P6);
  var2 = var2 + ((var1 * BigInt(c.P5)) << 17n);
  var2 = var2 + (BigInt(c.P4) << 35n);
  var1 = ((var1 * var1 * BigInt(c.P3)) >> 8n) + ((var1 * BigInt(c.P2)) << 12n);
  var1 = (((1n << 47n) + var1) * BigInt(c.P1)) >> 33n;
  if (var1 === 0n) return 0;
  let p = 1048576n - BigInt(adcP);
  p = (((p << 31n) - var2) * 3125n) / var1;
  var1 = (BigInt(c.P9) * (p >> 13n) * (p >> 13n)) >> 25n;
  var2 = (BigInt(c.P8) * p) >> 19n;
  p = ((p + var1 + var2) >> 8n) + (BigInt(c.P7) << 4n);
  return Number(p);
}

/** Relative humidity in %RH as Q22.10 (divide by 1024). */
export function compensateHumidity(adcH: number, tFine: number, c: Bme280Calibration): number {
  let v = tFine - 76800;
  v = (((((adcH << 14) - (c.H4 << 20) - c.H5 * v) + 16384) >> 15) *
    (((((((v * c.H6) >> 10) * (((v * c.H3) >> 11) + 32768)) >> 10) + 2097152) * c.H2 + 8192) >> 14));
  v = v - (((((v >> 15) * (v >> 15)) >> 7) * c.H1) >> 4);
  v = v < 0 ? 0 : v > 419430400 ? 419430400 : v;
  return v >> 12;
}
