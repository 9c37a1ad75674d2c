// Platinum RTD conversion per IEC 60751 (Callendar-Van Dusen), and the MAX31865's RTD register.
// Pure: the driver (next) and the simulated chip both use it, on Node and on XS.
//
// R(T) = R0 * (1 + A*T + B*T^2)                  for 0 <= T <= 850 C
// R(T) = R0 * (1 + A*T + B*T^2 + C*(T-100)*T^3)  for -200 <= T < 0 C

export const CVD = Object.freeze({ A: 3.9083e-3, B: -5.775e-7, C: -4.183e-12 });
export const RTD_MIN_C = -200;
export const RTD_MAX_C = 850;

/** Resistance of an RTD with nominal resistance r0 (100 for PT100, 1000 for PT1000) at t degrees C. */
export function rtdResistance(t: number, r0: number): number {
  const { A, B, C } = CVD;
  const cubic = t < 0 ? C * (t - 100) * t * t * t : 0;
  return r0 * (1 + A * t + B * t * t + cubic);
}

/**
 * Temperature of an RTD from its resistance: the quadratic's exact root at and above 0 C, and
 * Newton's method on the full polynomial below (it converges in a few steps from the quadratic root).
 * Returns NaN outside -200..850 C (an open or shorted sensor, not a temperature).
 */
export function rtdTemperature(resistance: number, r0: number): number {
  const { A, B } = CVD;
  if (!(resistance > 0) || !(r0 > 0)) return NaN;
  const ratio = resistance / r0;
  let t = (-A + Math.sqrt(A * A - 4 * B * (1 - ratio))) / (2 * B);
  if (t < 0) {
    for (let i = 0; i < 20; i++) {
      const f = rtdResistance(t, r0) - resistance;
      const h = 1e-6;
      const slope = (rtdResistance(t + h, r0) - rtdResistance(t - h, r0)) / (2 * h);
      const step = f / slope;
      t -= step;
      if (Math.abs(step) < 1e-9) break;
    }
  }
  if (!Number.isFinite(t) || t < RTD_MIN_C - 0.5 || t > RTD_MAX_C + 0.5) return NaN;
  return t;
}

/** MAX31865 datasheet: the RTD register's 15-bit code is the ratio R_RTD / R_REF times 2^15. */
export function max31865Resistance(code15: number, referenceOhms: number): number {
  return (code15 * referenceOhms) / 32768;
}

export function max31865Code(resistance: number, referenceOhms: number): number {
  return Math.max(0, Math.min(32767, Math.round((resistance * 32768) / referenceOhms)));
}
