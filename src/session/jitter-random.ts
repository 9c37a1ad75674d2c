// Randomness for backoff jitter that differs per device and per boot. The simulator's Math.random is
// libc rand() never seeded: every start draws the same sequence, so a fleet of simulated devices
// (or one device restarting) would back off in lockstep. A generator seeded from the thing name, the
// boot id and the clock breaks that, and its value is added to the platform's modulo 1: where the
// platform's generator is truly random (ESP32's hardware RNG), the sum is exactly as random.
// Pure: runs on XS unchanged.

/** FNV-1a over the text's UTF-16 code units: a 32-bit seed. */
export function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

/** Uniform over [0, 1): a 32-bit xorshift (Marsaglia 2003) seeded from `seed`, mixed with platform(). */
export function jitterRandom(seed: string, platform: () => number = Math.random): () => number {
  let state = seedOf(seed) || 0x9e3779b9; // xorshift must not start at 0
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const sum = state / 4294967296 + platform();
    return sum >= 1 ? sum - 1 : sum;
  };
}
