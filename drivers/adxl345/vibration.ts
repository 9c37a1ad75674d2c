// Vibration statistics of one window of accelerometer samples, in one pass and exact: per axis the
// RMS about the window's mean (so gravity and a constant offset drop out) and the peak, the largest
// deviation of any axis from its mean. Pure: runs on XS unchanged.
//
// Samples are raw integer counts: the sums, and n * sum(x^2) - (sum x)^2, are exact in doubles up to
// about 23,000 full-scale samples (29 s at 800 Hz); beyond, the error stays near 1e-16 relative.

export interface VibrationResult {
  count: number;
  /** RMS about the mean per axis, in the caller's scale (scale * counts). */
  rms: { x: number; y: number; z: number };
  /** Largest |sample - mean| over all three axes. */
  peak: number;
}

export class VibrationWindow {
  count = 0;
  #sum = [0, 0, 0];
  #sumSquares = [0, 0, 0];
  #min = [Infinity, Infinity, Infinity];
  #max = [-Infinity, -Infinity, -Infinity];

  add(x: number, y: number, z: number): void {
    this.count++;
    this.#axis(0, x);
    this.#axis(1, y);
    this.#axis(2, z);
  }

  /** The statistics scaled from counts to physical units; undefined for an empty window. */
  result(scale: number): VibrationResult | undefined {
    const n = this.count;
    if (n === 0) return undefined;
    const rms = [0, 1, 2].map((a) => {
      // n * sum(x^2) - (sum x)^2 is exact in integers: no cancellation error.
      const spread = n * this.#sumSquares[a] - this.#sum[a] * this.#sum[a];
      return (Math.sqrt(Math.max(0, spread)) / n) * scale;
    });
    let peak = 0;
    for (let a = 0; a < 3; a++) {
      const mean = this.#sum[a] / n;
      peak = Math.max(peak, this.#max[a] - mean, mean - this.#min[a]);
    }
    return { count: n, rms: { x: rms[0], y: rms[1], z: rms[2] }, peak: peak * scale };
  }

  reset(): void {
    this.count = 0;
    for (let a = 0; a < 3; a++) {
      this.#sum[a] = 0;
      this.#sumSquares[a] = 0;
      this.#min[a] = Infinity;
      this.#max[a] = -Infinity;
    }
  }

  #axis(a: number, v: number): void {
    this.#sum[a] += v;
    this.#sumSquares[a] += v * v;
    if (v < this.#min[a]) this.#min[a] = v;
    if (v > this.#max[a]) this.#max[a] = v;
  }
}
