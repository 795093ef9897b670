/**
 * Dynamic loss scaling for mixed-precision training, with the defaults and update rule of
 * PyTorch's `torch.amp.GradScaler`.
 *
 * Half-precision gradients below about 6e-8 flush to zero. Multiplying the loss by a large
 * scale before backpropagation lifts them into range; the backend divides the gradients by
 * the same scale before the update. When the scale is too large, a gradient overflows to Inf
 * or NaN: that update is skipped and the scale shrinks. After `growthInterval` clean updates in
 * a row the scale grows again, so it settles just below the overflow point.
 */

export interface LossScaleOptions {
  /** Scale of the first update; 2¹⁶ as in PyTorch. */
  readonly initialScale?: number;
  readonly growthFactor?: number;
  readonly backoffFactor?: number;
  /** Clean updates in a row after which the scale grows. */
  readonly growthInterval?: number;
}

/** Checkpointed state of a {@link LossScaler}, from which a resumed run continues with the same scale. */
export interface LossScaleState {
  readonly scale: number;
  /** Clean updates since the scale last changed. */
  readonly cleanUpdates: number;
  /** Updates skipped for overflow since the run started. */
  readonly skippedUpdates: number;
}

/**
 * Smallest useful scale. Below it a gradient must exceed 65504 × 2²⁴ ≈ 1.1e12 to overflow
 * float16, so an overflow there means the gradients themselves are Inf, NaN or diverging.
 */
export const MIN_LOSS_SCALE = 2 ** -24;

export class LossScaler {
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  private current: number;
  private cleanUpdates = 0;
  private skipped = 0;

  constructor(options: LossScaleOptions = {}, state?: LossScaleState) {
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
    if (!(this.growthFactor > 1) || !(this.backoffFactor > 0 && this.backoffFactor < 1) || !(this.growthInterval >= 1)) {
      throw new RangeError(
        `LossScaler: growthFactor must be > 1, backoffFactor in (0, 1) and growthInterval ≥ 1. Got ${this.growthFactor}, ${this.backoffFactor} and ${this.growthInterval}.`,
      );
    }
    this.current = state?.scale ?? options.initialScale ?? 2 ** 16;
    this.cleanUpdates = state?.cleanUpdates ?? 0;
    this.skipped = state?.skippedUpdates ?? 0;
  }

  /** The factor to multiply the next loss by. */
  get scale(): number {
    return this.current;
  }

  get skippedUpdates(): number {
    return this.skipped;
  }

  /** True once the scale has fallen below {@link MIN_LOSS_SCALE}: overflow no longer comes from scaling. */
  get exhausted(): boolean {
    return this.current < MIN_LOSS_SCALE;
  }

  /** Records whether the update at the current scale had finite gradients, and adjusts the scale. */
  update(gradientsFinite: boolean): void {
    if (!gradientsFinite) {
      this.current *= this.backoffFactor;
      this.cleanUpdates = 0;
      this.skipped += 1;
      return;
    }
    this.cleanUpdates += 1;
    if (this.cleanUpdates === this.growthInterval) {
      const grown = this.current * this.growthFactor;
      if (Number.isFinite(grown)) {
        this.current = grown;
      }
      this.cleanUpdates = 0;
    }
  }

  state(): LossScaleState {
    return { scale: this.current, cleanUpdates: this.cleanUpdates, skippedUpdates: this.skipped };
  }
}
