import * as tf from '@tensorflow/tfjs-core';
import type { GradientClippingConfig, NamedArrays, OptimizerConfig } from '@ft/core';

/** Slot names follow PyTorch's optimizer state keys, so exported state reads the same in both. */
type Slot = 'exp_avg' | 'exp_avg_sq' | 'max_exp_avg_sq' | 'momentum_buffer' | 'square_avg' | 'grad_avg' | 'sum';

/**
 * AdamW, Adam, SGD, RMSprop and Adagrad updates on tfjs variables, following the algorithms as PyTorch documents
 * them (the same rules as core's `referenceOptimizerStep`, which the tests compare against).
 */
export class TfjsOptimizer {
  private step = 0;
  private readonly slots = new Map<string, tf.Variable>();

  constructor(private readonly config: OptimizerConfig) {}

  private slot(name: string, slot: Slot, like: tf.Variable, initialValue = 0): tf.Variable {
    const key = `${name}.${slot}`;
    let variable = this.slots.get(key);
    if (variable === undefined) {
      const initial = tf.fill(like.shape, initialValue);
      variable = tf.variable(initial, false);
      initial.dispose();
      this.slots.set(key, variable);
    }
    return variable;
  }

  /** Applies one update with `learningRate` to every variable that has a gradient. */
  apply(variables: ReadonlyMap<string, tf.Variable>, gradients: Readonly<Record<string, tf.Tensor>>, learningRate: number): void {
    this.step += 1;
    const t = this.step;
    const config = this.config;

    for (const [name, variable] of variables) {
      const gradient = gradients[name];
      if (gradient === undefined) {
        continue;
      }

      tf.tidy(() => {
        if (config.type === 'sgd') {
          let g = config.weight_decay === 0 ? gradient : gradient.add(variable.mul(config.weight_decay));
          if (config.momentum !== 0) {
            const buffer = this.slot(name, 'momentum_buffer', variable);
            buffer.assign(t > 1 ? buffer.mul(config.momentum).add(g.mul(1 - config.dampening)) : g);
            g = config.nesterov ? g.add(buffer.mul(config.momentum)) : buffer;
          }
          variable.assign(variable.sub(g.mul(learningRate)));
          return;
        }

        if (config.type === 'rmsprop') {
          const g = config.weight_decay === 0 ? gradient : gradient.add(variable.mul(config.weight_decay));
          const square = this.slot(name, 'square_avg', variable);
          square.assign(square.mul(config.alpha).add(g.square().mul(1 - config.alpha)));
          let variance: tf.Tensor = square;
          if (config.centered) {
            const average = this.slot(name, 'grad_avg', variable);
            average.assign(average.mul(config.alpha).add(g.mul(1 - config.alpha)));
            variance = square.sub(average.square());
          }
          const update = g.div(variance.sqrt().add(config.eps));
          if (config.momentum > 0) {
            const buffer = this.slot(name, 'momentum_buffer', variable);
            buffer.assign(buffer.mul(config.momentum).add(update));
            variable.assign(variable.sub(buffer.mul(learningRate)));
          } else {
            variable.assign(variable.sub(update.mul(learningRate)));
          }
          return;
        }

        if (config.type === 'adagrad') {
          const g = config.weight_decay === 0 ? gradient : gradient.add(variable.mul(config.weight_decay));
          const sum = this.slot(name, 'sum', variable, config.initial_accumulator_value);
          sum.assign(sum.add(g.square()));
          const decayedRate = learningRate / (1 + (t - 1) * config.lr_decay);
          variable.assign(variable.sub(g.div(sum.sqrt().add(config.eps)).mul(decayedRate)));
          return;
        }

        const [beta1, beta2] = config.betas;
        let g: tf.Tensor = gradient;
        let parameter: tf.Tensor = variable;
        if (config.type === 'adamw') {
          parameter = variable.mul(1 - learningRate * config.weight_decay);
        } else if (config.weight_decay !== 0) {
          g = g.add(variable.mul(config.weight_decay));
        }

        const m = this.slot(name, 'exp_avg', variable);
        const v = this.slot(name, 'exp_avg_sq', variable);
        m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
        v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
        let second: tf.Tensor = v;
        if (config.amsgrad) {
          const vMax = this.slot(name, 'max_exp_avg_sq', variable);
          vMax.assign(tf.maximum(vMax, v));
          second = vMax;
        }

        const biasCorrection1 = 1 - beta1 ** t;
        const biasCorrection2 = 1 - beta2 ** t;
        const denominator = second.sqrt().div(Math.sqrt(biasCorrection2)).add(config.eps);
        variable.assign(parameter.sub(m.div(denominator).mul(learningRate / biasCorrection1)));
      });
    }
  }

  /**
   * Exports the step count and every slot as `optimizer.<weight>.<slot>`. It reads
   * asynchronously because tfjs-backend-webgpu's synchronous read needs OffscreenCanvas,
   * which Node lacks.
   */
  async exportState(): Promise<NamedArrays> {
    const state: NamedArrays = { 'optimizer.step': { dtype: 'float32', shape: [1], data: Float32Array.of(this.step) } };
    for (const [key, variable] of this.slots) {
      state[`optimizer.${key}`] = { dtype: 'float32', shape: [...variable.shape], data: (await variable.data()) as Float32Array };
    }
    return state;
  }

  /** Restores what {@link exportState} returned; `variables` gives the shapes of slots not created yet. */
  importState(state: NamedArrays, variables: ReadonlyMap<string, tf.Variable>): void {
    // Slots missing from the state did not exist when it was exported, so they go: keeping them
    // would carry moments from later steps (such as batch size trials) into the restored state.
    this.dispose();
    this.step = state['optimizer.step']?.data[0] ?? 0;
    for (const [key, array] of Object.entries(state)) {
      if (!key.startsWith('optimizer.') || key === 'optimizer.step') {
        continue;
      }
      const rest = key.slice('optimizer.'.length);
      const separator = rest.lastIndexOf('.');
      const name = rest.slice(0, separator);
      const slot = rest.slice(separator + 1) as Slot;
      const variable = variables.get(name);
      if (variable === undefined) {
        continue;
      }
      const target = this.slot(name, slot, variable);
      tf.tidy(() => target.assign(tf.tensor(array.data, [...array.shape], 'float32')));
    }
  }

  dispose(): void {
    for (const variable of this.slots.values()) {
      variable.dispose();
    }
    this.slots.clear();
  }
}

/**
 * Clips gradients in place of the originals, as PyTorch's `clip_grad_norm_` and
 * `clip_grad_value_` do: first to a global norm, then to `clipnorm` (also a global norm), then
 * element-wise to `clipvalue`. Returns new tensors; the caller disposes both sets.
 */
export function clipGradients(gradients: Record<string, tf.Tensor>, clipping: GradientClippingConfig): Record<string, tf.Tensor> {
  return tf.tidy(() => {
    let clipped: Record<string, tf.Tensor> = { ...gradients };
    for (const maxNorm of [clipping.clipglobalnorm, clipping.clipnorm]) {
      if (maxNorm === null) {
        continue;
      }
      const squares = Object.values(clipped).map((gradient) => gradient.square().sum());
      const totalNorm = tf.addN(squares).sqrt();
      // PyTorch scales by max_norm / (norm + 1e-6) and never scales up.
      const scale = tf.minimum(tf.scalar(maxNorm).div(totalNorm.add(1e-6)), 1);
      clipped = Object.fromEntries(Object.entries(clipped).map(([name, gradient]) => [name, gradient.mul(scale)]));
    }
    if (clipping.clipvalue !== null) {
      const limit = clipping.clipvalue;
      clipped = Object.fromEntries(Object.entries(clipped).map(([name, gradient]) => [name, gradient.clipByValue(-limit, limit)]));
    }
    for (const [name, gradient] of Object.entries(clipped)) {
      if (gradient === gradients[name]) {
        clipped[name] = gradient.clone();
      }
    }
    return clipped;
  });
}
