// Seeded, counter-based randomness. Every random thing in the project takes a seed;
// a draw depends only on (seed, index), so results do not depend on evaluation order
// and a kernel can reproduce the reference's draws element by element.

/** 32-bit integer hash (the "lowbias32" finalizer): a bijection on uint32 with good avalanche. */
export function hash32(x: number): number {
  x = x >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** uint32 draw number `index` of stream `seed` */
export function counterUint32(seed: number, index: number): number {
  return hash32(hash32(seed ^ 0x9e3779b9) ^ hash32(index + 0x632be5ab));
}

/** uniform integer in [0, 65535]: the draw stochastic rounding adds below the kept bits */
export function counterUniform16(seed: number, index: number): number {
  return counterUint32(seed, index) >>> 16;
}

/** A sequential seeded generator (sfc32), for building inputs. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = hash32(seed ^ 0xa5a5a5a5);
    this.b = hash32(seed + 0x3c6ef372);
    this.c = hash32(seed ^ 0x1b873593);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.uint32();
  }
  /** sfc32 step */
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** uniform in [0, 1) with 53 random bits */
  float(): number {
    return (this.uint32() * 2 ** 21 + (this.uint32() >>> 11)) * 2 ** -53;
  }
  /** integer in [lo, hi] inclusive */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  /** standard normal (Box–Muller) */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)];
  }
  /** Fisher–Yates in place: i from the end down to 1 swaps with j = int(0, i); returns `a` */
  shuffle<A extends { length: number; [i: number]: unknown }>(a: A): A {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}
