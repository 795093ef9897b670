import seedrandom from 'seedrandom';

/** Serializable state of a {@link Random}, saved in checkpoints so a resumed run draws the same numbers. */
export type RandomState = object;

/**
 * A seeded random number generator (seedrandom's ARC4 generator). Every random choice in
 * core (splits, shuffling, seeds handed to backends) draws from one of these, so a run is
 * reproducible from its seed.
 */
export class Random {
  private readonly generator: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;

  constructor(seed: number | string, state?: RandomState) {
    this.generator =
      state === undefined
        ? seedrandom(String(seed), { state: true })
        : seedrandom('', { state: state as seedrandom.State.Arc4 });
  }

  /** Returns a float in [0, 1). */
  next(): number {
    return this.generator();
  }

  /** Returns an integer in [0, bound). */
  nextInt(bound: number): number {
    return Math.floor(this.generator() * bound);
  }

  /** Returns 0..size-1 in a random order (Fisher-Yates). */
  permutation(size: number): number[] {
    const order = Array.from({ length: size }, (_, index) => index);
    for (let i = size - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }

  state(): RandomState {
    return this.generator.state();
  }
}
