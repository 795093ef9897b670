/**
 * Optimizer updates and gradient clipping as ONNX graph nodes, following the algorithms as
 * PyTorch documents them (the same rules as core's `referenceOptimizerStep`, which the tests
 * compare against).
 *
 * Scalars that depend on the step count, such as the bias corrections of Adam, are computed in
 * float64 on the JavaScript side and fed as graph inputs. Computing 1 − 0.999ᵗ in float32 would
 * lose about four digits at t = 1.
 */
import type { GradientClippingConfig, OptimizerConfig } from '@ft/core';

import type { GraphBuilder, Value } from '../graph/builder.js';

/** Slot names follow PyTorch's optimizer state keys, so exported state reads the same in every backend. */
export type Slot = 'exp_avg' | 'exp_avg_sq' | 'max_exp_avg_sq' | 'momentum_buffer' | 'square_avg' | 'grad_avg' | 'sum';

/** Returns the slots that `config` keeps per weight, with their initial values. */
export function optimizerSlots(config: OptimizerConfig): { slot: Slot; initialValue: number }[] {
  switch (config.type) {
    case 'adam':
    case 'adamw':
      return [
        { slot: 'exp_avg', initialValue: 0 },
        { slot: 'exp_avg_sq', initialValue: 0 },
        ...(config.amsgrad ? [{ slot: 'max_exp_avg_sq' as const, initialValue: 0 }] : []),
      ];
    case 'sgd':
      return config.momentum !== 0 ? [{ slot: 'momentum_buffer', initialValue: 0 }] : [];
    case 'rmsprop':
      return [
        { slot: 'square_avg', initialValue: 0 },
        ...(config.centered ? [{ slot: 'grad_avg' as const, initialValue: 0 }] : []),
        ...(config.momentum > 0 ? [{ slot: 'momentum_buffer' as const, initialValue: 0 }] : []),
      ];
    case 'adagrad':
      return [{ slot: 'sum', initialValue: config.initial_accumulator_value }];
  }
}

/** Names of the scalar graph inputs that {@link optimizerScalars} fills. */
export function optimizerScalarNames(config: OptimizerConfig): string[] {
  switch (config.type) {
    case 'adam':
    case 'adamw':
      return ['decay', 'step_size', 'epsilon'];
    case 'sgd':
      return ['learning_rate', 'momentum_keep', 'gradient_scale'];
    case 'rmsprop':
    case 'adagrad':
      return ['learning_rate'];
  }
}

/** Computes the per-step scalars of update number `step` (counting from 1) in float64. */
export function optimizerScalars(config: OptimizerConfig, step: number, learningRate: number): Record<string, number> {
  switch (config.type) {
    case 'adam':
    case 'adamw': {
      const [beta1, beta2] = config.betas;
      // PyTorch divides by √v / √(1 − β₂ᵗ) + eps. Multiplying the numerator and the denominator
      // by √(1 − β₂ᵗ) here gives the same update with one full-size graph op fewer per weight.
      const sqrtBiasCorrection2 = Math.sqrt(1 - beta2 ** step);
      return {
        decay: config.type === 'adamw' ? 1 - learningRate * config.weight_decay : 1,
        step_size: (learningRate / (1 - beta1 ** step)) * sqrtBiasCorrection2,
        epsilon: config.eps * sqrtBiasCorrection2,
      };
    }
    case 'sgd':
      // The first update sets the momentum buffer to the gradient: 0 · buffer + 1 · g.
      return { learning_rate: learningRate, momentum_keep: step > 1 ? config.momentum : 0, gradient_scale: step > 1 ? 1 - config.dampening : 1 };
    case 'rmsprop':
      return { learning_rate: learningRate };
    case 'adagrad':
      return { learning_rate: learningRate / (1 + (step - 1) * config.lr_decay) };
  }
}

export interface UpdatedWeight {
  readonly weight: Value;
  readonly slots: Partial<Record<Slot, Value>>;
}

/**
 * A gradient whose global-norm clipping factor is not applied yet, so that Adam can fold the
 * factor into its scalar coefficients instead of scaling every element in a separate op.
 */
export interface DeferredClipping {
  /** Scalar factor that the gradient still has to be multiplied by. */
  readonly scale: Value;
  /** The unscaled gradient squared element-wise, already computed for the global norm. */
  readonly square: Value;
}

/**
 * Adds the nodes of one optimizer update of `weight` and returns the new weight and slots.
 * With `deferred`, `rawGradient` is the unclipped gradient and the update applies the clipping factor.
 */
export function buildOptimizerUpdate(
  builder: GraphBuilder,
  config: OptimizerConfig,
  weight: Value,
  rawGradient: Value,
  slots: Partial<Record<Slot, Value>>,
  scalars: Readonly<Record<string, Value>>,
  deferred?: DeferredClipping,
): UpdatedWeight {
  const b = builder;
  const c = (value: number) => b.constant(value);
  // AdamW, and Adam without L2, read the gradient only through g and g², so the clipping factor
  // folds into their scalars. The other rules get the clipped gradient as a tensor.
  const foldsClipping = config.type === 'adamw' || (config.type === 'adam' && config.weight_decay === 0);
  const gradient = deferred !== undefined && !foldsClipping ? b.mul(rawGradient, deferred.scale) : rawGradient;
  const slot = (name: Slot) => {
    const value = slots[name];
    if (value === undefined) {
      throw new Error(`Optimizer ${config.type} needs the slot ${name} of ${weight.name}.`);
    }
    return value;
  };
  const withL2 = (weightDecay: number) => (weightDecay === 0 ? gradient : b.add(gradient, b.scale(weight, weightDecay)));

  switch (config.type) {
    case 'sgd': {
      let g = withL2(config.weight_decay);
      if (config.momentum === 0) {
        return { weight: b.sub(weight, b.mul(g, scalars.learning_rate!)), slots: {} };
      }
      const buffer = b.add(b.mul(slot('momentum_buffer'), scalars.momentum_keep!), b.mul(g, scalars.gradient_scale!));
      g = config.nesterov ? b.add(g, b.scale(buffer, config.momentum)) : buffer;
      return { weight: b.sub(weight, b.mul(g, scalars.learning_rate!)), slots: { momentum_buffer: buffer } };
    }

    case 'rmsprop': {
      const g = withL2(config.weight_decay);
      const square = b.add(b.scale(slot('square_avg'), config.alpha), b.scale(b.mul(g, g), 1 - config.alpha));
      const updated: Partial<Record<Slot, Value>> = { square_avg: square };
      let variance = square;
      if (config.centered) {
        const average = b.add(b.scale(slot('grad_avg'), config.alpha), b.scale(g, 1 - config.alpha));
        updated.grad_avg = average;
        variance = b.sub(square, b.mul(average, average));
      }
      const step = b.div(g, b.add(b.unary('Sqrt', variance), c(config.eps)));
      if (config.momentum > 0) {
        const buffer = b.add(b.scale(slot('momentum_buffer'), config.momentum), step);
        updated.momentum_buffer = buffer;
        return { weight: b.sub(weight, b.mul(buffer, scalars.learning_rate!)), slots: updated };
      }
      return { weight: b.sub(weight, b.mul(step, scalars.learning_rate!)), slots: updated };
    }

    case 'adagrad': {
      const g = withL2(config.weight_decay);
      const sum = b.add(slot('sum'), b.mul(g, g));
      const step = b.div(g, b.add(b.unary('Sqrt', sum), c(config.eps)));
      return { weight: b.sub(weight, b.mul(step, scalars.learning_rate!)), slots: { sum } };
    }

    case 'adam':
    case 'adamw': {
      const [beta1, beta2] = config.betas;
      const g = config.type === 'adam' ? withL2(config.weight_decay) : gradient;
      const decayed = config.type === 'adamw' && config.weight_decay !== 0 ? b.mul(weight, scalars.decay!) : weight;

      // With deferred clipping factor s: (1 − β₁)·(s·g) = ((1 − β₁)·s)·g and (1 − β₂)·(s·g)² =
      // ((1 − β₂)·s²)·g², so the factor costs scalar ops only and g² is the one the norm used.
      const folded = deferred !== undefined && foldsClipping ? deferred : undefined;
      const gradientWeight = folded === undefined ? c(1 - beta1) : b.mul(folded.scale, c(1 - beta1));
      const squareWeight = folded === undefined ? c(1 - beta2) : b.mul(b.mul(folded.scale, folded.scale), c(1 - beta2));
      const square = folded?.square ?? b.mul(g, g);

      const m = b.add(b.scale(slot('exp_avg'), beta1), b.mul(g, gradientWeight));
      const v = b.add(b.scale(slot('exp_avg_sq'), beta2), b.mul(square, squareWeight));
      const updated: Partial<Record<Slot, Value>> = { exp_avg: m, exp_avg_sq: v };
      let second = v;
      if (config.amsgrad) {
        second = b.max(slot('max_exp_avg_sq'), v);
        updated.max_exp_avg_sq = second;
      }

      // step_size and epsilon are both scaled by √(1 − β₂ᵗ), as optimizerScalars explains.
      const denominator = b.add(b.unary('Sqrt', second), scalars.epsilon!);
      return { weight: b.sub(decayed, b.div(b.mul(m, scalars.step_size!), denominator)), slots: updated };
    }
  }
}

/**
 * Clips gradients as PyTorch's `clip_grad_norm_` and `clip_grad_value_` do: first to the global
 * norm `clipglobalnorm`, then to `clipnorm` (also a global norm), then element-wise to `clipvalue`.
 */
export function buildGradientClipping(builder: GraphBuilder, gradients: readonly Value[], clipping: GradientClippingConfig): Value[] {
  const scaling = buildGlobalNormScaling(builder, gradients, clipping);
  let clipped = scaling === null ? [...gradients] : gradients.map((gradient) => builder.mul(gradient, scaling.scale));
  if (clipping.clipvalue !== null) {
    const limit = clipping.clipvalue;
    clipped = clipped.map((gradient) => builder.clip(gradient, -limit, limit));
  }
  return clipped;
}

/**
 * Adds the factor that the global-norm limits (`clipglobalnorm`, then `clipnorm`) multiply every
 * gradient by, and the squared gradients that the norm summed. Returns null when neither is set.
 * It ignores `clipvalue`, which {@link buildGradientClipping} applies after the scaling.
 */
export function buildGlobalNormScaling(
  builder: GraphBuilder,
  gradients: readonly Value[],
  clipping: GradientClippingConfig,
): { scale: Value; squares: Value[]; squaredNorm: Value } | null {
  const limits = [clipping.clipglobalnorm, clipping.clipnorm].filter((limit): limit is number => limit !== null);
  if (gradients.length === 0 || limits.length === 0) {
    return null;
  }
  const squares = gradients.map((gradient) => builder.mul(gradient, gradient));
  const squaredNorm = squares.map((square) => builder.sumAll(square)).reduce((sum, square) => builder.add(sum, square));
  let total = squaredNorm;
  let scale: Value | undefined;
  for (const maxNorm of limits) {
    const norm = builder.unary('Sqrt', total);
    // PyTorch scales by max_norm / (norm + 1e-6) and never scales up.
    const factor = builder.min(builder.div(builder.constant(maxNorm), builder.add(norm, builder.constant(1e-6))), builder.constant(1));
    scale = scale === undefined ? factor : builder.mul(scale, factor);
    // The next limit measures the scaled gradients, whose squared norm is total · factor².
    total = builder.mul(total, builder.mul(factor, factor));
  }
  return { scale: scale!, squares, squaredNorm };
}
