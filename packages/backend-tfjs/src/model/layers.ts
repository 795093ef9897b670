import * as tf from '@tensorflow/tfjs-core';

/** Activation functions the combiner offers, by config name. */
export function activate(x: tf.Tensor, activation: 'relu' | 'tanh' | 'sigmoid' | 'gelu' | 'linear'): tf.Tensor {
  switch (activation) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'gelu':
      // Exact GELU, x·Φ(x), as PyTorch's default.
      return x.mul(tf.erf(x.div(Math.SQRT2)).add(1)).mul(0.5);
    case 'linear':
      return x;
  }
}

/** Glorot (Xavier) uniform initialisation of a `[out, in]` weight, seeded. */
export function glorotUniform(outputSize: number, inputSize: number, seed: number): tf.Tensor2D {
  const limit = Math.sqrt(6 / (inputSize + outputSize));
  return tf.randomUniform([outputSize, inputSize], -limit, limit, 'float32', seed);
}

/** `x · Wᵀ + b` with a PyTorch-layout weight `[out, in]`. */
export function linear(x: tf.Tensor2D, weight: tf.Tensor, bias: tf.Tensor | undefined): tf.Tensor2D {
  const product = tf.matMul(x, weight as tf.Tensor2D, false, true) as tf.Tensor2D;
  return bias === undefined ? product : tf.add<tf.Tensor2D>(product, bias);
}

/** Layer normalization over the last axis. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor, epsilon = 1e-5): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).div(variance.add(epsilon).sqrt()).mul(gamma).add(beta);
}
