import type { GraphBuilder, Value } from '../graph/builder.js';

export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'gelu' | 'linear';

/** Adds the activation function that the combiner config names. */
export function activate(builder: GraphBuilder, x: Value, activation: Activation): Value {
  switch (activation) {
    case 'relu':
      return builder.unary('Relu', x);
    case 'tanh':
      return builder.unary('Tanh', x);
    case 'sigmoid':
      return builder.unary('Sigmoid', x);
    case 'gelu':
      return gelu(builder, x);
    case 'linear':
      return x;
  }
}

/**
 * Exact GELU, 0.5·x·(1 + erf(x/√2)), as PyTorch's default; opset 17 has no Gelu op. The node
 * order is the one ONNX Runtime's GeluFusion recognizes, so inference runs one fused kernel.
 */
export function gelu(builder: GraphBuilder, x: Value): Value {
  const cdf = builder.add(builder.unary('Erf', builder.div(x, builder.constant(Math.SQRT2))), builder.constant(1));
  return builder.scale(builder.mul(x, cdf), 0.5);
}

/** `x · Wᵀ + b` for a 2-D input and a PyTorch-layout weight `[out, in]`. */
export function linear2d(builder: GraphBuilder, x: Value, weight: Value, bias: Value | undefined): Value {
  return builder.gemm(x, weight, bias ?? null, true);
}

/**
 * `x · Wᵀ + b` over the last axis of an input of any rank. Higher ranks are flattened to rows
 * for one Gemm, which adds the bias in the same kernel and reads the weight in its stored
 * `[out, in]` layout. ONNX Runtime 1.31 ran a 3-D MatMul and its Add as two CPU kernels.
 */
export function linear(builder: GraphBuilder, x: Value, weight: Value, bias: Value): Value {
  if (x.shape.length === 2) {
    return linear2d(builder, x, weight, bias);
  }
  const rank = x.shape.length;
  const outputSize = weight.shape[0]!;
  const rows = builder.reshape(x, [-1, x.shape[rank - 1] as number]);
  const projected = linear2d(builder, rows, weight, bias);
  const leading = builder.slice(builder.shapeOf(x), [0], [rank - 1], [0]);
  const shape = builder.concat([leading, builder.int64s([outputSize as number], 'width')], 0);
  return builder.reshapeTo(projected, shape, [...x.shape.slice(0, -1), outputSize]);
}

/** Returns `x` times a dropout mask fed as a graph input (0 or 1/(1 − rate) per element). */
export function applyDropoutMask(builder: GraphBuilder, x: Value, mask: Value | undefined): Value {
  return mask === undefined ? x : builder.mul(x, mask);
}
