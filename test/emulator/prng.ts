import { randomInt } from 'node:crypto';

/** A random source returning floats in [0, 1). */
export type Rng = () => number;

/** mulberry32: tiny, fast and seedable, so a failing fragmentation pattern can be replayed. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh 32-bit seed. */
export function randomSeed(): number {
  return randomInt(0, 2 ** 32 - 1);
}

/** Integer in [min, max]. */
export function pickInt(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}
