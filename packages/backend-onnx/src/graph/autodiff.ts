/**
 * Reverse-mode differentiation of a graph recorded by {@link GraphBuilder}: the gradient nodes
 * are appended to the same builder, so one ONNX model runs forward and backward together.
 *
 * Each op has a vector-Jacobian rule below. A gradient that flows into a broadcast input is
 * summed back to the input's shape, which works when every broadcast dimension of size 1 is
 * fixed in the recorded shape (the builder keeps symbolic dimensions only for batch and
 * sequence sizes, which never broadcast).
 */
import { GraphBuilder, GraphShapeError, formatShape, isFloat, type Dim, type RecordedNode, type Value } from './builder.js';

type Rule = (builder: GraphBuilder, node: RecordedNode, outputGradients: readonly (Value | null)[], needed: readonly boolean[]) => (Value | null)[];

/**
 * Returns the gradient of the scalar `loss` with respect to each value of `wrt`, by name.
 * A value that `loss` does not depend on gets a zero gradient of its shape. `seed` is the
 * gradient of the loss itself, 1 by default. Mixed precision passes its loss scale there.
 */
export function gradients(builder: GraphBuilder, loss: Value, wrt: readonly Value[], seed?: Value): Map<string, Value> {
  if (loss.shape.length !== 0) {
    throw new GraphShapeError('gradients', `the loss ${loss.name} must be a scalar, got shape ${formatShape(loss.shape)}.`);
  }

  // Only values that depend on a wrt value can carry a gradient back to it.
  const reachable = new Set(wrt.map((value) => value.name));
  const recorded = [...builder.nodes];
  for (const node of recorded) {
    if (node.inputs.some((input) => input !== null && reachable.has(input.name))) {
      node.outputs.forEach((output) => reachable.add(output.name));
    }
  }

  const accumulated = new Map<string, Value>();
  const accumulate = (name: string, gradient: Value) => {
    const existing = accumulated.get(name);
    accumulated.set(name, existing === undefined ? gradient : builder.add(existing, gradient));
  };
  accumulate(loss.name, seed ?? builder.constant(1, [], 'loss_seed'));

  builder.scope('grad', () => {
    for (let index = recorded.length - 1; index >= 0; index--) {
      const node = recorded[index]!;
      const outputGradients = node.outputs.map((output) => accumulated.get(output.name) ?? null);
      if (outputGradients.every((gradient) => gradient === null)) {
        continue;
      }
      const needed = node.inputs.map((input) => input !== null && isFloat(input.dtype) && reachable.has(input.name));
      if (!needed.some(Boolean)) {
        continue;
      }

      const rule = RULES[node.opType];
      if (rule === undefined) {
        throw new GraphShapeError(node.name, `no gradient rule for ${node.opType}. Supported: ${Object.keys(RULES).sort().join(', ')}.`);
      }
      const inputGradients = builder.scope(node.name.replace(/\//g, '.'), () => rule(builder, node, outputGradients, needed));
      node.inputs.forEach((input, position) => {
        const gradient = inputGradients[position];
        if (input !== null && needed[position] && gradient !== null && gradient !== undefined) {
          accumulate(input.name, gradient);
        }
      });
    }
  });

  const result = new Map<string, Value>();
  for (const value of wrt) {
    result.set(value.name, accumulated.get(value.name) ?? zerosLike(builder, value));
  }
  return result;
}

function zerosLike(builder: GraphBuilder, value: Value): Value {
  return builder.expand(builder.constant(0), builder.shapeOf(value), value.shape);
}

/** Sums `gradient` over the axes along which `target` was broadcast, giving `target`'s shape. */
export function reduceToShape(builder: GraphBuilder, gradient: Value, target: Value): Value {
  const extra = gradient.shape.length - target.shape.length;
  const keptAxes: number[] = [];
  target.shape.forEach((dimension, index) => {
    const gradientDimension = gradient.shape[index + extra]!;
    if (dimension === 1 && gradientDimension !== 1) {
      keptAxes.push(index + extra);
    }
  });

  let result = gradient;
  if (keptAxes.length > 0) {
    result = builder.reduceSum(result, keptAxes, true);
  }
  if (extra > 0) {
    result = builder.reduceSum(result, Array.from({ length: extra }, (_, axis) => axis), false);
  }
  return result;
}

function negate(builder: GraphBuilder, x: Value): Value {
  return builder.unary('Neg', x);
}

/** Number of elements that a reduction from `input` to `output` combined into each output element, as a float scalar. */
function reductionCount(builder: GraphBuilder, input: Value, axes: readonly number[]): Value {
  const dimensions: Dim[] = axes.map((axis) => input.shape[axis < 0 ? axis + input.shape.length : axis]!);
  if (dimensions.every((dimension) => typeof dimension === 'number')) {
    return builder.constant((dimensions as number[]).reduce((product, dimension) => product * dimension, 1));
  }
  const shape = builder.shapeOf(input);
  const picked = builder.gather(shape, builder.int64s(axes.map((axis) => (axis < 0 ? axis + input.shape.length : axis)), 'axes'));
  const count = builder.op('ReduceProd', [picked], { keepdims: 0 }, { dtype: 'int64', shape: [] });
  return builder.cast(count, 'float32');
}

function recordedInts(node: RecordedNode, key: string): readonly number[] {
  const values = node.meta[key];
  if (values === undefined) {
    throw new GraphShapeError(node.name, `the ${node.opType} gradient needs its ${key}, which only GraphBuilder's helpers record.`);
  }
  return values;
}

const RULES: Record<string, Rule> = {
  Identity: (_builder, _node, [g]) => [g!],

  // Between float types the gradient goes back through the opposite cast. Integer and bool
  // inputs carry no gradient, so autodiff never calls this rule for them.
  Cast: (builder, node, [g]) => [builder.cast(g!, node.inputs[0]!.dtype)],

  Add: (builder, node, [g], needed) => node.inputs.map((input, i) => (needed[i] ? reduceToShape(builder, g!, input!) : null)),

  Sub: (builder, node, [g], needed) => [
    needed[0] ? reduceToShape(builder, g!, node.inputs[0]!) : null,
    needed[1] ? reduceToShape(builder, negate(builder, g!), node.inputs[1]!) : null,
  ],

  Mul: (builder, node, [g], needed) => {
    const [a, b] = node.inputs as [Value, Value];
    return [needed[0] ? reduceToShape(builder, builder.mul(g!, b), a) : null, needed[1] ? reduceToShape(builder, builder.mul(g!, a), b) : null];
  },

  Div: (builder, node, [g], needed) => {
    const [a, b] = node.inputs as [Value, Value];
    const y = node.outputs[0]!;
    // d(a/b)/db = -a/b² = -y/b.
    return [
      needed[0] ? reduceToShape(builder, builder.div(g!, b), a) : null,
      needed[1] ? reduceToShape(builder, negate(builder, builder.div(builder.mul(g!, y), b)), b) : null,
    ];
  },

  Neg: (builder, _node, [g]) => [negate(builder, g!)],

  Relu: (builder, node, [g]) => [builder.where(builder.greater(node.inputs[0]!, builder.constant(0)), g!, builder.constant(0))],

  Tanh: (builder, node, [g]) => {
    const y = node.outputs[0]!;
    return [builder.mul(g!, builder.sub(builder.constant(1), builder.mul(y, y)))];
  },

  Sigmoid: (builder, node, [g]) => {
    const y = node.outputs[0]!;
    return [builder.mul(g!, builder.mul(y, builder.sub(builder.constant(1), y)))];
  },

  // d erf(x)/dx = 2/√π · exp(-x²); GELU = 0.5·x·(1 + erf(x/√2)) differentiates through this rule, Mul, Add and Div.
  Erf: (builder, node, [g]) => {
    const x = node.inputs[0]!;
    const density = builder.unary('Exp', negate(builder, builder.mul(x, x)));
    return [builder.mul(g!, builder.scale(density, 2 / Math.sqrt(Math.PI)))];
  },

  Exp: (builder, node, [g]) => [builder.mul(g!, node.outputs[0]!)],

  Log: (builder, node, [g]) => [builder.div(g!, node.inputs[0]!)],

  Abs: (builder, node, [g]) => [builder.mul(g!, builder.unary('Sign', node.inputs[0]!))],

  Sqrt: (builder, node, [g]) => [builder.div(builder.scale(g!, 0.5), node.outputs[0]!)],

  Softplus: (builder, node, [g]) => [builder.mul(g!, builder.unary('Sigmoid', node.inputs[0]!))],

  Softmax: (builder, node, [g]) => {
    const y = node.outputs[0]!;
    const axis = node.attributes.axis as number;
    const dot = builder.reduceSum(builder.mul(g!, y), [axis], true);
    return [builder.mul(y, builder.sub(g!, dot))];
  },

  LogSoftmax: (builder, node, [g]) => {
    const y = node.outputs[0]!;
    const axis = node.attributes.axis as number;
    const total = builder.reduceSum(g!, [axis], true);
    return [builder.sub(g!, builder.mul(builder.unary('Exp', y), total))];
  },

  MatMul: (builder, node, [g], needed) => {
    const [a, b] = node.inputs as [Value, Value];
    let gradientA: Value | null = null;
    let gradientB: Value | null = null;
    if (needed[0]) {
      gradientA = reduceToShape(builder, builder.matMul(g!, builder.transposeLast(b)), a);
    }
    if (needed[1]) {
      if (b.shape.length === 2 && a.shape.length > 2) {
        // A 2-D weight applied to every row of a batch: one [k, rows] × [rows, n] product
        // instead of a batched product summed afterwards.
        const k = a.shape[a.shape.length - 1]! as number;
        const n = g!.shape[g!.shape.length - 1]! as number;
        const rowsA = builder.reshape(a, [-1, k]);
        const rowsG = builder.reshape(g!, [-1, n]);
        gradientB = builder.matMul(builder.transposeLast(rowsA), rowsG);
      } else {
        gradientB = reduceToShape(builder, builder.matMul(builder.transposeLast(a), g!), b);
      }
    }
    return [gradientA, gradientB];
  },

  Gemm: (builder, node, [g], needed) => {
    const [a, b, c] = node.inputs as [Value, Value, Value | undefined];
    if ((node.attributes.transA ?? 0) !== 0 || node.attributes.alpha !== undefined || node.attributes.beta !== undefined) {
      throw new GraphShapeError(node.name, 'the Gemm gradient supports only transA = 0, alpha = 1 and beta = 1.');
    }
    const transposedB = node.attributes.transB === 1;
    // y = a·bᵀ + c: da = g·b, db = gᵀ·a. Without transB: da = g·bᵀ, db = aᵀ·g.
    const gradientA = needed[0] ? builder.matMul(g!, transposedB ? b : builder.transposeLast(b)) : null;
    let gradientB: Value | null = null;
    if (needed[1]) {
      gradientB = transposedB ? builder.matMul(builder.transposeLast(g!), a) : builder.matMul(builder.transposeLast(a), g!);
    }
    const gradientC = c !== undefined && needed[2] ? reduceToShape(builder, g!, c) : null;
    return [gradientA, gradientB, gradientC];
  },

  ReduceSum: (builder, node, [g]) => {
    const x = node.inputs[0]!;
    const axes = recordedInts(node, 'axes');
    const kept = node.attributes.keepdims === 1 ? g! : builder.unsqueeze(g!, axes);
    return [builder.expand(kept, builder.shapeOf(x), x.shape)];
  },

  ReduceMean: (builder, node, [g]) => {
    const x = node.inputs[0]!;
    const axes = recordedInts(node, 'axes');
    const kept = node.attributes.keepdims === 1 ? g! : builder.unsqueeze(g!, axes);
    const spread = builder.expand(kept, builder.shapeOf(x), x.shape);
    return [builder.div(spread, reductionCount(builder, x, axes))];
  },

  LayerNormalization: (builder, node, [g], needed) => {
    const [x, scale] = node.inputs as [Value, Value, Value];
    const [, mean, inverseDeviation] = node.outputs as [Value, Value, Value];
    const rowAxes = x.shape.slice(0, -1).map((_, axis) => axis);

    const normalized = builder.mul(builder.sub(x, mean), inverseDeviation);
    const gradientNormalized = builder.mul(g!, scale);
    // dx = σ⁻¹ · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)), means over the normalized axis.
    const gradientX = needed[0]
      ? builder.mul(
          inverseDeviation,
          builder.sub(builder.sub(gradientNormalized, builder.reduceMean(gradientNormalized, [-1], true)), builder.mul(normalized, builder.reduceMean(builder.mul(gradientNormalized, normalized), [-1], true))),
        )
      : null;
    const gradientScale = needed[1] ? builder.reduceSum(builder.mul(g!, normalized), rowAxes) : null;
    const gradientBias = needed[2] ? builder.reduceSum(g!, rowAxes) : null;
    return [gradientX, gradientScale, gradientBias];
  },

  Concat: (builder, node, [g]) => {
    const axis = node.attributes.axis as number;
    const sizes = node.inputs.map((input) => input!.shape[axis]!);
    if (!sizes.every((size) => typeof size === 'number')) {
      throw new GraphShapeError(node.name, `the Concat gradient needs fixed sizes along axis ${axis}, got ${sizes.join(', ')}.`);
    }
    return builder.split(g!, axis, sizes as number[]);
  },

  Reshape: (builder, node, [g]) => {
    const x = node.inputs[0]!;
    return [builder.reshapeTo(g!, builder.shapeOf(x), x.shape), null];
  },

  Unsqueeze: (builder, node, [g]) => {
    const x = node.inputs[0]!;
    return [builder.reshapeTo(g!, builder.shapeOf(x), x.shape), null];
  },

  Transpose: (builder, node, [g]) => {
    const perm = (node.attributes.perm as { ints: readonly number[] }).ints;
    const inverse = new Array<number>(perm.length);
    perm.forEach((axis, index) => {
      inverse[axis] = index;
    });
    return [builder.transpose(g!, inverse)];
  },

  Expand: (builder, node, [g]) => [reduceToShape(builder, g!, node.inputs[0]!), null],

  // Embedding lookup: repeated indices add up, which ScatterND does with reduction = add.
  Gather: (builder, node, [g]) => {
    const [data, indices] = node.inputs as [Value, Value];
    if (node.attributes.axis !== 0) {
      throw new GraphShapeError(node.name, 'the Gather gradient supports only axis 0 (embedding lookups).');
    }
    const positions = builder.unsqueeze(indices.dtype === 'int64' ? indices : builder.cast(indices, 'int64'), [-1]);
    const scattered = builder.op('ScatterND', [zerosLike(builder, data), positions, g!], { reduction: 'add' }, { dtype: data.dtype, shape: data.shape });
    return [scattered, null];
  },

  // Slices with step 1 and non-negative starts; the gradient pads back with zeros.
  Slice: (builder, node, [g]) => {
    const x = node.inputs[0]!;
    const starts = recordedInts(node, 'starts');
    const axes = recordedInts(node, 'axes');
    const beginPads = x.shape.map((_, axis) => {
      const position = axes.indexOf(axis);
      return position === -1 ? 0 : starts[position]!;
    });
    const begin = builder.int64s(beginPads, 'pads_begin');
    const end = builder.sub(builder.sub(builder.shapeOf(x), builder.shapeOf(g!)), begin);
    const pads = builder.concat([begin, end], 0);
    return [builder.op('Pad', [g!, pads], { mode: 'constant' }, { dtype: x.dtype, shape: x.shape }), null, null, null];
  },

  Where: (builder, node, [g], needed) => {
    const [condition, a, b] = node.inputs as [Value, Value, Value];
    const zero = builder.constant(0);
    return [
      null,
      needed[1] ? reduceToShape(builder, builder.where(condition, g!, zero), a) : null,
      needed[2] ? reduceToShape(builder, builder.where(condition, zero, g!), b) : null,
    ];
  },
};

/** Op types that have a gradient rule. */
export const DIFFERENTIABLE_OPS: readonly string[] = Object.keys(RULES);
