// Doubles that test exact float round trips, shared by the npm package's tests and the
// Worker's: 17-digit values in [0, 100), where serde_json's best-effort float parser misreads
// ~9 % (25.805360112477338 → …334, always the first), and finite doubles from random bit
// patterns across the whole exponent range, negative ones included. From a fixed-seed xorshift:
// the same 64 values on every run for a given seed.

/** 64 doubles from `seed` (a BigInt). */
export function hardDoubles(seed) {
  let state = seed;
  const next = () => {
    state ^= (state << 13n) & 0xffffffffffffffffn;
    state ^= state >> 7n;
    state ^= (state << 17n) & 0xffffffffffffffffn;
    return state;
  };
  const bits = new BigUint64Array(1);
  const float = new Float64Array(bits.buffer);
  const doubles = [25.805360112477338];
  while (doubles.length < 64) {
    bits[0] = next();
    if (doubles.length % 2 === 0) doubles.push(Number(next() >> 11n) / 2 ** 53 * 100);
    else if (Number.isFinite(float[0])) doubles.push(float[0]);
  }
  return doubles;
}
