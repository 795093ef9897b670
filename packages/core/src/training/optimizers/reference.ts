import type { OptimizerConfig } from '../../config/trainer.js';

/** Storage of parameters and optimizer state: float64, or float32 to match a backend's rounding of stored values. */
export type ReferenceArray = Float64Array | Float32Array;

/** Per-parameter optimizer state of the reference implementation, stored like the parameter. */
export interface ReferenceOptimizerState {
  step: number;
  firstMoment?: ReferenceArray;
  secondMoment?: ReferenceArray;
  maxSecondMoment?: ReferenceArray;
  momentumBuffer?: ReferenceArray;
  squareAverage?: ReferenceArray;
  gradientAverage?: ReferenceArray;
  squareSum?: ReferenceArray;
}

/**
 * Applies one update to `parameter` in place, following the algorithms as PyTorch documents
 * them for `torch.optim.AdamW`, `Adam`, `SGD`, `RMSprop` and `Adagrad` (PyTorch 2.x docs,
 * "Algorithm" sections).
 * This is the reference that every backend's fast implementation is tested against. Arithmetic
 * is float64; state arrays are created with the parameter's type, so a Float32Array parameter
 * rounds stored values as a float32 backend does.
 */
export function referenceOptimizerStep(
  config: OptimizerConfig,
  parameter: ReferenceArray,
  gradient: ArrayLike<number>,
  state: ReferenceOptimizerState,
  learningRate: number,
): void {
  state.step += 1;
  const t = state.step;
  const zeros = (): ReferenceArray => (parameter instanceof Float32Array ? new Float32Array(parameter.length) : new Float64Array(parameter.length));

  if (config.type === 'sgd') {
    const buffer = (state.momentumBuffer ??= zeros());
    for (let i = 0; i < parameter.length; i++) {
      let g = gradient[i]! + config.weight_decay * parameter[i]!;
      if (config.momentum !== 0) {
        buffer[i] = t > 1 ? config.momentum * buffer[i]! + (1 - config.dampening) * g : g;
        g = config.nesterov ? g + config.momentum * buffer[i]! : buffer[i]!;
      }
      parameter[i] = parameter[i]! - learningRate * g;
    }
    return;
  }

  if (config.type === 'rmsprop') {
    const square = (state.squareAverage ??= zeros());
    const average = config.centered ? (state.gradientAverage ??= zeros()) : undefined;
    const buffer = config.momentum > 0 ? (state.momentumBuffer ??= zeros()) : undefined;
    for (let i = 0; i < parameter.length; i++) {
      const g = gradient[i]! + config.weight_decay * parameter[i]!;
      square[i] = config.alpha * square[i]! + (1 - config.alpha) * g * g;
      let variance = square[i]!;
      if (average !== undefined) {
        average[i] = config.alpha * average[i]! + (1 - config.alpha) * g;
        variance -= average[i]! * average[i]!;
      }
      const step = g / (Math.sqrt(variance) + config.eps);
      if (buffer !== undefined) {
        buffer[i] = config.momentum * buffer[i]! + step;
        parameter[i] = parameter[i]! - learningRate * buffer[i]!;
      } else {
        parameter[i] = parameter[i]! - learningRate * step;
      }
    }
    return;
  }

  if (config.type === 'adagrad') {
    const sum = (state.squareSum ??= zeros().fill(config.initial_accumulator_value));
    const decayedRate = learningRate / (1 + (t - 1) * config.lr_decay);
    for (let i = 0; i < parameter.length; i++) {
      const g = gradient[i]! + config.weight_decay * parameter[i]!;
      sum[i] = sum[i]! + g * g;
      parameter[i] = parameter[i]! - (decayedRate * g) / (Math.sqrt(sum[i]!) + config.eps);
    }
    return;
  }

  const [beta1, beta2] = config.betas;
  const m = (state.firstMoment ??= zeros());
  const v = (state.secondMoment ??= zeros());
  const vMax = config.amsgrad ? (state.maxSecondMoment ??= zeros()) : undefined;
  const biasCorrection1 = 1 - beta1 ** t;
  const biasCorrection2 = 1 - beta2 ** t;

  for (let i = 0; i < parameter.length; i++) {
    let g = gradient[i]!;
    if (config.type === 'adamw') {
      parameter[i] = parameter[i]! * (1 - learningRate * config.weight_decay);
    } else {
      g += config.weight_decay * parameter[i]!;
    }

    m[i] = beta1 * m[i]! + (1 - beta1) * g;
    v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
    let second = v[i]!;
    if (vMax !== undefined) {
      vMax[i] = Math.max(vMax[i]!, v[i]!);
      second = vMax[i]!;
    }

    const denominator = Math.sqrt(second) / Math.sqrt(biasCorrection2) + config.eps;
    parameter[i] = parameter[i]! - (learningRate / biasCorrection1) * (m[i]! / denominator);
  }
}
