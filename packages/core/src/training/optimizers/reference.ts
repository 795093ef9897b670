import type { OptimizerConfig } from '../../config/trainer.js';

/** Per-parameter optimizer state of the reference implementation, in float64. */
export interface ReferenceOptimizerState {
  step: number;
  firstMoment?: Float64Array;
  secondMoment?: Float64Array;
  maxSecondMoment?: Float64Array;
  momentumBuffer?: Float64Array;
}

/**
 * Applies one update to `parameter` in place, following the algorithms as PyTorch documents
 * them for `torch.optim.AdamW`, `Adam` and `SGD` (PyTorch 2.x docs, "Algorithm" sections).
 * This is the reference that every backend's fast implementation is tested against.
 */
export function referenceOptimizerStep(
  config: OptimizerConfig,
  parameter: Float64Array,
  gradient: Float64Array,
  state: ReferenceOptimizerState,
  learningRate: number,
): void {
  state.step += 1;
  const t = state.step;

  if (config.type === 'sgd') {
    const buffer = (state.momentumBuffer ??= new Float64Array(parameter.length));
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

  const [beta1, beta2] = config.betas;
  const m = (state.firstMoment ??= new Float64Array(parameter.length));
  const v = (state.secondMoment ??= new Float64Array(parameter.length));
  const vMax = config.amsgrad ? (state.maxSecondMoment ??= new Float64Array(parameter.length)) : undefined;
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
