/**
 * A small typed API over onnx-proto for building opset-17 ONNX models.
 *
 * Every value carries its element type and shape. A dimension is a number, or a string for a
 * symbolic dimension such as the batch size. Each op helper infers the output shape and throws
 * an error that names the node when its inputs do not fit. The builder also records the nodes
 * in order, so `autodiff.ts` can walk them backwards.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Opset of the default ONNX domain that every built model imports. */
export const OPSET_VERSION = 17;
/** ONNX IR version 8, the newest that onnx-proto 8 (ONNX 1.10) encodes and enough for opset 17. */
const IR_VERSION = 8;

export type DType = 'float32' | 'float16' | 'int32' | 'int64' | 'bool';
/** A dimension: a fixed size, or a symbolic name such as `batch` that the runtime fills in. */
export type Dim = number | string;
export type Shape = readonly Dim[];

const ELEMENT_TYPES: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A tensor in the graph under construction. */
export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type AttributeValue = number | string | readonly number[] | { readonly float: number } | { readonly ints: readonly number[] };

/** A node as the builder recorded it, with its inputs and outputs as values. */
export interface RecordedNode {
  readonly opType: string;
  readonly name: string;
  /** Inputs in order; null where an optional input is left out. */
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** Facts that gradient rules need but ONNX keeps in initializers, such as ReduceSum axes; not encoded. */
  readonly meta: Readonly<Record<string, readonly number[]>>;
}

/** Optional settings of {@link GraphBuilder.op}. */
export interface NodeOptions {
  readonly name?: string;
  /** Names for the outputs; graph outputs need fixed names. */
  readonly outputNames?: readonly string[];
  readonly meta?: Readonly<Record<string, readonly number[]>>;
}

/** Raised when the inputs of a node do not fit together; the message names the node. */
export class GraphShapeError extends Error {
  constructor(node: string, message: string) {
    super(`${node}: ${message}`);
    this.name = 'GraphShapeError';
  }
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Returns the number of elements when every dimension is fixed, else null. */
export function staticSize(shape: Shape): number | null {
  let size = 1;
  for (const dimension of shape) {
    if (typeof dimension !== 'number') {
      return null;
    }
    size *= dimension;
  }
  return size;
}

function normalizeAxis(axis: number, rank: number, node: string): number {
  const normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank) {
    throw new GraphShapeError(node, `axis ${axis} is out of range for rank ${rank}.`);
  }
  return normalized;
}

/** Numpy-style broadcasting; symbolic dimensions are assumed to match each other. */
export function broadcastShapes(node: string, ...shapes: Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((shape) => shape.length));
  const result: Dim[] = [];
  for (let index = 0; index < rank; index++) {
    let dimension: Dim = 1;
    for (const shape of shapes) {
      const candidate = shape[shape.length - rank + index] ?? 1;
      if (candidate === 1 || candidate === dimension) {
        continue;
      }
      if (dimension === 1 || (typeof dimension === 'string' && typeof candidate === 'number')) {
        dimension = candidate;
      } else if (typeof candidate === 'number' && typeof dimension === 'number') {
        throw new GraphShapeError(node, `shapes ${shapes.map(formatShape).join(' and ')} cannot be broadcast together.`);
      }
    }
    result.push(dimension);
  }
  return result;
}

/** Returns true for the floating-point element types, the ones that carry gradients. */
export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16';
}

/** Options of a {@link GraphBuilder}. */
export interface GraphBuilderOptions {
  /**
   * Element type in which {@link GraphBuilder.matMul} and {@link GraphBuilder.gemm} multiply
   * float32 inputs. With `float16` they cast their inputs down and the product back up, as
   * PyTorch's autocast does for mixed precision: matrix products run in half precision while
   * softmax, normalization, losses and weights stay in float32. Default `float32`.
   */
  readonly matMulPrecision?: 'float32' | 'float16';
}

function sameDim(a: Dim, b: Dim): boolean {
  return a === b || typeof a === 'string' || typeof b === 'string';
}

/** Builds one ONNX graph; call {@link GraphBuilder.toBytes} when it is complete. */
export class GraphBuilder {
  readonly nodes: RecordedNode[] = [];
  private readonly inputs: Value[] = [];
  private readonly outputs: Value[] = [];
  private readonly initializers = new Map<string, { value: Value; data: Float32Array | Int32Array | BigInt64Array | Uint8Array }>();
  private readonly usedNames = new Set<string>();
  /** Names of values that some node outputs, as opposed to graph inputs and initializers. */
  private readonly producedNames = new Set<string>();
  /** Node outputs renamed to the graph output name that {@link output} gave them. */
  private readonly outputRenames = new Map<string, string>();
  private counter = 0;
  /** Prefix of node and value names, set with {@link scope} so names read like `combiner/fc0/MatMul`. */
  private prefix = '';
  /** Half-precision copies of float32 values, so a value that feeds several products is cast once. */
  private readonly halfCopies = new Map<string, Value>();

  constructor(
    readonly graphName: string,
    readonly options: GraphBuilderOptions = {},
  ) {}

  /** Runs `build` with `name` appended to the prefix of every node it adds. */
  scope<T>(name: string, build: () => T): T {
    const saved = this.prefix;
    this.prefix = `${saved}${name}/`;
    try {
      return build();
    } finally {
      this.prefix = saved;
    }
  }

  /** Returns an unused name built from `base`. */
  uniqueName(base: string): string {
    let name = `${this.prefix}${base}`;
    while (this.usedNames.has(name)) {
      this.counter += 1;
      name = `${this.prefix}${base}_${this.counter}`;
    }
    this.usedNames.add(name);
    return name;
  }

  private claim(name: string): void {
    if (this.usedNames.has(name)) {
      throw new Error(`Graph ${this.graphName}: the name "${name}" is used twice. Graph inputs, outputs and initializers need unique names.`);
    }
    this.usedNames.add(name);
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    this.claim(name);
    const value = { name, dtype, shape: [...shape] };
    this.inputs.push(value);
    return value;
  }

  /**
   * Marks `value` as a graph output under `name`. A node output that is not yet a graph output is
   * renamed to `name` when the model is encoded, and other values go through an Identity node.
   * Renaming avoids the Identity because ONNX Runtime 1.31's CPU Identity copies its input.
   */
  output(value: Value, name = value.name): Value {
    if (this.outputRenames.has(value.name)) {
      throw new Error(`Graph ${this.graphName}: ${value.name} is already the graph output ${this.outputRenames.get(value.name)}. Add an Identity node to output it twice.`);
    }
    let result: Value;
    if (name === value.name) {
      result = value;
    } else if (this.producedNames.has(value.name) && !this.outputs.some((output) => output.name === value.name)) {
      this.claim(name);
      this.outputRenames.set(value.name, name);
      result = { name, dtype: value.dtype, shape: value.shape };
    } else {
      result = this.op('Identity', [value], {}, { dtype: value.dtype, shape: value.shape }, { name, outputNames: [name] });
    }
    this.outputs.push(result);
    return result;
  }

  /** Adds a constant stored in the model file. */
  initializer(name: string, dtype: DType, shape: Shape, data: Float32Array | Int32Array | BigInt64Array | Uint8Array): Value {
    this.claim(name);
    return this.addInitializer(name, dtype, shape, data);
  }

  private addInitializer(name: string, dtype: DType, shape: Shape, data: Float32Array | Int32Array | BigInt64Array | Uint8Array): Value {
    const size = staticSize(shape);
    if (size === null || size !== data.length) {
      throw new Error(`Initializer ${name}: ${data.length} values do not fill shape ${formatShape(shape)}.`);
    }
    const value = { name, dtype, shape: [...shape] };
    this.initializers.set(name, { value, data });
    return value;
  }

  /** Adds a float32 constant; a number gives a scalar. */
  constant(values: number | readonly number[], shape?: Shape, name = 'const'): Value {
    const data = Float32Array.from(typeof values === 'number' ? [values] : values);
    return this.addInitializer(this.uniqueName(name), 'float32', shape ?? (typeof values === 'number' ? [] : [data.length]), data);
  }

  /** Adds an int64 vector constant, the type that shape and axes inputs need. */
  int64s(values: readonly number[], name = 'ints'): Value {
    return this.addInitializer(this.uniqueName(name), 'int64', [values.length], BigInt64Array.from(values.map((value) => BigInt(value))));
  }

  /** Adds a node with one output of the given type, and records it. */
  op(opType: string, inputs: readonly (Value | null)[], attributes: Record<string, AttributeValue>, output: { dtype: DType; shape: Shape }, options: NodeOptions | string = {}): Value {
    return this.opMulti(opType, inputs, attributes, [output], options)[0]!;
  }

  /** Adds a node with several outputs and records it. */
  opMulti(
    opType: string,
    inputs: readonly (Value | null)[],
    attributes: Record<string, AttributeValue>,
    outputs: readonly { dtype: DType; shape: Shape }[],
    options: NodeOptions | string = {},
  ): Value[] {
    // A string is the node name that a helper already reserved for its error messages.
    const { name, outputNames, meta } = typeof options === 'string' ? { name: options, outputNames: undefined, meta: undefined } : options;
    const nodeName = name ?? this.uniqueName(opType);
    const values = outputs.map((output, index) => {
      const valueName = outputNames?.[index] ?? (outputs.length === 1 ? nodeName : `${nodeName}_out${index}`);
      if (outputNames?.[index] !== undefined) {
        this.claim(valueName);
      }
      return { name: valueName, dtype: output.dtype, shape: [...output.shape] };
    });
    values.forEach((value) => this.producedNames.add(value.name));
    this.nodes.push({ opType, name: nodeName, inputs: [...inputs], outputs: values, attributes, meta: meta ?? {} });
    return values;
  }

  // Elementwise ops.

  private elementwise(opType: string, a: Value, b: Value): Value {
    const node = this.uniqueName(opType);
    if (a.dtype !== b.dtype) {
      throw new GraphShapeError(node, `input types differ: ${a.name} is ${a.dtype}, ${b.name} is ${b.dtype}.`);
    }
    return this.op(opType, [a, b], {}, { dtype: a.dtype, shape: broadcastShapes(node, a.shape, b.shape) }, node);
  }

  add(a: Value, b: Value): Value {
    return this.elementwise('Add', a, b);
  }

  sub(a: Value, b: Value): Value {
    return this.elementwise('Sub', a, b);
  }

  mul(a: Value, b: Value): Value {
    return this.elementwise('Mul', a, b);
  }

  div(a: Value, b: Value): Value {
    return this.elementwise('Div', a, b);
  }

  max(a: Value, b: Value): Value {
    return this.elementwise('Max', a, b);
  }

  min(a: Value, b: Value): Value {
    return this.elementwise('Min', a, b);
  }

  pow(a: Value, b: Value): Value {
    return this.elementwise('Pow', a, b);
  }

  /** Multiplies by a float constant. */
  scale(a: Value, factor: number): Value {
    return this.mul(a, this.constant(factor));
  }

  unary(opType: 'Relu' | 'Tanh' | 'Sigmoid' | 'Erf' | 'Exp' | 'Log' | 'Neg' | 'Abs' | 'Sqrt' | 'Softplus' | 'Sign' | 'Identity', x: Value): Value {
    return this.op(opType, [x], {}, { dtype: x.dtype, shape: x.shape });
  }

  greater(a: Value, b: Value): Value {
    const node = this.uniqueName('Greater');
    return this.op('Greater', [a, b], {}, { dtype: 'bool', shape: broadcastShapes(node, a.shape, b.shape) }, node);
  }

  equal(a: Value, b: Value): Value {
    const node = this.uniqueName('Equal');
    return this.op('Equal', [a, b], {}, { dtype: 'bool', shape: broadcastShapes(node, a.shape, b.shape) }, node);
  }

  where(condition: Value, a: Value, b: Value): Value {
    const node = this.uniqueName('Where');
    if (condition.dtype !== 'bool') {
      throw new GraphShapeError(node, `the condition ${condition.name} must be bool, got ${condition.dtype}.`);
    }
    return this.op('Where', [condition, a, b], {}, { dtype: a.dtype, shape: broadcastShapes(node, condition.shape, a.shape, b.shape) }, node);
  }

  cast(x: Value, dtype: DType): Value {
    return this.op('Cast', [x], { to: ELEMENT_TYPES[dtype] }, { dtype, shape: x.shape });
  }

  clip(x: Value, min: number, max: number): Value {
    return this.op('Clip', [x, this.constant(min), this.constant(max)], {}, { dtype: x.dtype, shape: x.shape });
  }

  // Linear algebra.

  /** Casts a float32 value to float16 once and returns the same copy on later calls. */
  private half(x: Value): Value {
    let copy = this.halfCopies.get(x.name);
    if (copy === undefined) {
      copy = this.cast(x, 'float16');
      this.halfCopies.set(x.name, copy);
    }
    return copy;
  }

  /** True when a product of `inputs` runs in float16 under {@link GraphBuilderOptions.matMulPrecision}. */
  private inHalfPrecision(...inputs: readonly Value[]): boolean {
    return this.options.matMulPrecision === 'float16' && inputs.every((input) => input.dtype === 'float32');
  }

  /**
   * Numpy matmul for inputs of rank 2 or more; batch dimensions broadcast. Float32 inputs are
   * multiplied in float16 when the builder's `matMulPrecision` is `float16`.
   */
  matMul(a: Value, b: Value): Value {
    if (this.inHalfPrecision(a, b)) {
      return this.cast(this.matMul(this.half(a), this.half(b)), 'float32');
    }
    const node = this.uniqueName('MatMul');
    if (a.shape.length < 2 || b.shape.length < 2) {
      throw new GraphShapeError(node, `inputs need rank 2 or more, got ${formatShape(a.shape)} and ${formatShape(b.shape)}.`);
    }
    const k1 = a.shape[a.shape.length - 1]!;
    const k2 = b.shape[b.shape.length - 2]!;
    if (!sameDim(k1, k2)) {
      throw new GraphShapeError(node, `inner dimensions differ: ${formatShape(a.shape)} × ${formatShape(b.shape)}.`);
    }
    const batch = broadcastShapes(node, a.shape.slice(0, -2), b.shape.slice(0, -2));
    const shape = [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!];
    return this.op('MatMul', [a, b], {}, { dtype: a.dtype, shape }, node);
  }

  /**
   * Gemm without scaling: a·b + c, or a·bᵀ + c with `transposeB` (a torch Linear weight `[out, in]`).
   * Like {@link matMul}, it multiplies float32 inputs in float16 when `matMulPrecision` is `float16`.
   */
  gemm(a: Value, b: Value, c: Value | null, transposeB: boolean): Value {
    if (this.inHalfPrecision(a, b, ...(c === null ? [] : [c]))) {
      return this.cast(this.gemm(this.half(a), this.half(b), c === null ? null : this.half(c), transposeB), 'float32');
    }
    const node = this.uniqueName('Gemm');
    if (a.shape.length !== 2 || b.shape.length !== 2) {
      throw new GraphShapeError(node, `inputs must be 2-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}.`);
    }
    const [k2, n] = transposeB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (!sameDim(a.shape[1]!, k2)) {
      throw new GraphShapeError(node, `inner dimensions differ: ${formatShape(a.shape)} × ${formatShape(b.shape)}${transposeB ? 'ᵀ' : ''}.`);
    }
    const shape = [a.shape[0]!, n];
    if (c !== null) {
      broadcastShapes(node, shape, c.shape);
    }
    return this.op('Gemm', c === null ? [a, b] : [a, b, c], { transB: transposeB ? 1 : 0 }, { dtype: a.dtype, shape }, node);
  }

  transpose(x: Value, perm: readonly number[]): Value {
    const node = this.uniqueName('Transpose');
    if (perm.length !== x.shape.length || [...perm].sort().some((axis, index) => axis !== index)) {
      throw new GraphShapeError(node, `perm [${perm.join(', ')}] is not a permutation of the ${x.shape.length} axes of ${formatShape(x.shape)}.`);
    }
    return this.op('Transpose', [x], { perm: { ints: perm } }, { dtype: x.dtype, shape: perm.map((axis) => x.shape[axis]!) }, node);
  }

  /** Swaps the last two axes. */
  transposeLast(x: Value): Value {
    const perm = x.shape.map((_, index) => index);
    const rank = perm.length;
    [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
    return this.transpose(x, perm);
  }

  // Shape ops.

  /**
   * Reshapes to `shape`, where 0 copies the input dimension and -1 takes the rest (ONNX
   * semantics). `resultShape` gives the symbolic shape of the output for later shape checks.
   */
  reshape(x: Value, shape: readonly number[], resultShape?: Shape): Value {
    const node = this.uniqueName('Reshape');
    const inferred: Dim[] = shape.map((dimension, index) => (dimension === 0 ? x.shape[index]! : dimension));
    const known = staticSize(x.shape);
    if (inferred.includes(-1)) {
      const rest = staticSize(inferred.filter((dimension) => dimension !== -1));
      inferred[inferred.indexOf(-1)] = known !== null && rest !== null && rest > 0 ? known / rest : `${node}_dim`;
    } else if (known !== null && staticSize(inferred) !== null && staticSize(inferred) !== known) {
      throw new GraphShapeError(node, `cannot reshape ${formatShape(x.shape)} (${known} elements) to ${formatShape(shape)}.`);
    }
    return this.op('Reshape', [x, this.int64s(shape, 'shape')], {}, { dtype: x.dtype, shape: resultShape ?? inferred }, node);
  }

  /** Reshapes to a shape computed at run time (an int64 vector). */
  reshapeTo(x: Value, shape: Value, resultShape: Shape): Value {
    return this.op('Reshape', [x, shape], {}, { dtype: x.dtype, shape: resultShape });
  }

  shapeOf(x: Value): Value {
    return this.op('Shape', [x], {}, { dtype: 'int64', shape: [x.shape.length] });
  }

  unsqueeze(x: Value, axes: readonly number[]): Value {
    const rank = x.shape.length + axes.length;
    const normalized = axes.map((axis) => normalizeAxis(axis, rank, 'Unsqueeze'));
    const shape: Dim[] = [];
    let source = 0;
    for (let index = 0; index < rank; index++) {
      shape.push(normalized.includes(index) ? 1 : x.shape[source++]!);
    }
    return this.op('Unsqueeze', [x, this.int64s(normalized, 'axes')], {}, { dtype: x.dtype, shape });
  }

  expand(x: Value, shape: Value, resultShape: Shape): Value {
    return this.op('Expand', [x, shape], {}, { dtype: x.dtype, shape: resultShape });
  }

  concat(values: readonly Value[], axis: number): Value {
    const node = this.uniqueName('Concat');
    const rank = values[0]!.shape.length;
    const normalized = normalizeAxis(axis, rank, node);
    let total: Dim = 0;
    for (const value of values) {
      if (value.shape.length !== rank || value.dtype !== values[0]!.dtype) {
        throw new GraphShapeError(node, `inputs must share rank and type: ${values.map((v) => `${v.name} ${v.dtype} ${formatShape(v.shape)}`).join(', ')}.`);
      }
      const size = value.shape[normalized]!;
      total = typeof total === 'number' && typeof size === 'number' ? total + size : `${node}_dim`;
    }
    const shape = values[0]!.shape.map((dimension, index) => (index === normalized ? total : dimension));
    return this.op('Concat', values, { axis: normalized }, { dtype: values[0]!.dtype, shape }, node);
  }

  /** Splits along `axis` into pieces of the given fixed sizes. */
  split(x: Value, axis: number, sizes: readonly number[]): Value[] {
    const node = this.uniqueName('Split');
    const normalized = normalizeAxis(axis, x.shape.length, node);
    const outputs = sizes.map((size) => ({ dtype: x.dtype, shape: x.shape.map((dimension, index) => (index === normalized ? size : dimension)) }));
    return this.opMulti('Split', [x, this.int64s(sizes, 'split')], { axis: normalized }, outputs, node);
  }

  /**
   * Slices with steps of 1. `ends` may be a run-time int64 vector; `resultShape` then gives the
   * output shape.
   */
  slice(x: Value, starts: readonly number[], ends: readonly number[] | Value, axes: readonly number[], resultShape?: Shape): Value {
    const node = this.uniqueName('Slice');
    const normalizedAxes = axes.map((axis) => normalizeAxis(axis, x.shape.length, node));
    let shape: Shape;
    if (Array.isArray(ends)) {
      shape = x.shape.map((dimension, index) => {
        const position = normalizedAxes.indexOf(index);
        return position === -1 ? dimension : ends[position]! - starts[position]!;
      });
    } else if (resultShape !== undefined) {
      shape = resultShape;
    } else {
      throw new GraphShapeError(node, 'a slice with run-time ends needs resultShape.');
    }
    const endsValue = Array.isArray(ends) ? this.int64s(ends as readonly number[], 'ends') : (ends as Value);
    if (starts.some((start) => start < 0)) {
      throw new GraphShapeError(node, `starts [${starts.join(', ')}] must be non-negative.`);
    }
    const inputs = [x, this.int64s(starts, 'starts'), endsValue, this.int64s(normalizedAxes, 'axes')];
    return this.op('Slice', inputs, {}, { dtype: x.dtype, shape }, { name: node, meta: { starts, axes: normalizedAxes } });
  }

  /** Gathers along `axis`; the output shape is data[:axis] + indices + data[axis+1:]. */
  gather(data: Value, indices: Value, axis = 0): Value {
    const node = this.uniqueName('Gather');
    if (indices.dtype !== 'int32' && indices.dtype !== 'int64') {
      throw new GraphShapeError(node, `indices ${indices.name} must be int32 or int64, got ${indices.dtype}.`);
    }
    const normalized = normalizeAxis(axis, data.shape.length, node);
    const shape = [...data.shape.slice(0, normalized), ...indices.shape, ...data.shape.slice(normalized + 1)];
    return this.op('Gather', [data, indices], { axis: normalized }, { dtype: data.dtype, shape }, node);
  }

  // Reductions and normalization.

  private reducedShape(x: Value, axes: readonly number[], keepDims: boolean, node: string): { axes: number[]; shape: Dim[] } {
    const normalized = axes.map((axis) => normalizeAxis(axis, x.shape.length, node));
    const shape: Dim[] = [];
    x.shape.forEach((dimension, index) => {
      if (!normalized.includes(index)) {
        shape.push(dimension);
      } else if (keepDims) {
        shape.push(1);
      }
    });
    return { axes: normalized, shape };
  }

  reduceSum(x: Value, axes: readonly number[], keepDims = false): Value {
    const node = this.uniqueName('ReduceSum');
    const { axes: normalized, shape } = this.reducedShape(x, axes, keepDims, node);
    return this.op('ReduceSum', [x, this.int64s(normalized, 'axes')], { keepdims: keepDims ? 1 : 0 }, { dtype: x.dtype, shape }, { name: node, meta: { axes: normalized } });
  }

  /** ReduceMean; in opset 17 its axes are an attribute, unlike ReduceSum's. */
  reduceMean(x: Value, axes: readonly number[], keepDims = false): Value {
    const node = this.uniqueName('ReduceMean');
    const { axes: normalized, shape } = this.reducedShape(x, axes, keepDims, node);
    return this.op('ReduceMean', [x], { axes: { ints: normalized }, keepdims: keepDims ? 1 : 0 }, { dtype: x.dtype, shape }, { name: node, meta: { axes: normalized } });
  }

  /** Sums every element into a scalar. */
  sumAll(x: Value): Value {
    return x.shape.length === 0 ? x : this.reduceSum(x, x.shape.map((_, index) => index));
  }

  softmax(x: Value, axis = -1): Value {
    return this.op('Softmax', [x], { axis: normalizeAxis(axis, x.shape.length, 'Softmax') }, { dtype: x.dtype, shape: x.shape });
  }

  logSoftmax(x: Value, axis = -1): Value {
    return this.op('LogSoftmax', [x], { axis: normalizeAxis(axis, x.shape.length, 'LogSoftmax') }, { dtype: x.dtype, shape: x.shape });
  }

  /**
   * LayerNormalization over the last axis with the biased variance, as torch.nn.LayerNorm.
   * The node also outputs the mean and inverse standard deviation, which the gradient reuses.
   */
  layerNormalization(x: Value, scale: Value, bias: Value, epsilon: number): Value {
    const node = this.uniqueName('LayerNormalization');
    const width = x.shape[x.shape.length - 1]!;
    if (scale.shape.length !== 1 || !sameDim(scale.shape[0]!, width) || bias.shape.length !== 1 || !sameDim(bias.shape[0]!, width)) {
      throw new GraphShapeError(node, `scale ${formatShape(scale.shape)} and bias ${formatShape(bias.shape)} must both be [${width}] for input ${formatShape(x.shape)}.`);
    }
    const statsShape = [...x.shape.slice(0, -1), 1];
    const [y] = this.opMulti(
      'LayerNormalization',
      [x, scale, bias],
      { axis: -1, epsilon: { float: epsilon } },
      [
        { dtype: 'float32', shape: x.shape },
        { dtype: 'float32', shape: statsShape },
        { dtype: 'float32', shape: statsShape },
      ],
      node,
    );
    return y!;
  }

  /** Returns a float32 one-hot encoding `[..., depth]` of int32 indices; out-of-range indices give zero rows. */
  oneHot(indices: Value, depth: number): Value {
    const classes = this.addInitializer(this.uniqueName('classes'), indices.dtype, [depth], indices.dtype === 'int64' ? BigInt64Array.from({ length: depth }, (_, i) => BigInt(i)) : Int32Array.from({ length: depth }, (_, i) => i));
    return this.cast(this.equal(this.unsqueeze(indices, [-1]), classes), 'float32');
  }

  /** Encodes the graph as an ONNX model file. */
  toBytes(docString = ''): Uint8Array {
    const valueInfo = (value: Value) => ({
      name: value.name,
      type: {
        tensorType: {
          elemType: ELEMENT_TYPES[value.dtype],
          shape: { dim: value.shape.map((dimension) => (typeof dimension === 'number' ? { dimValue: dimension } : { dimParam: dimension })) },
        },
      },
    });

    const initializer = [...this.initializers.values()].map(({ value, data }) => ({
      name: value.name,
      dims: value.shape as number[],
      dataType: ELEMENT_TYPES[value.dtype],
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    }));

    const encodedName = (value: Value) => this.outputRenames.get(value.name) ?? value.name;
    const node = this.nodes.map((recorded) => ({
      opType: recorded.opType,
      name: recorded.name,
      input: recorded.inputs.map((input) => (input === null ? '' : encodedName(input))),
      // The optional outputs of LayerNormalization only exist when something reads them.
      output: recorded.outputs.map(encodedName),
      attribute: Object.entries(recorded.attributes).map(([name, value]) => encodeAttribute(name, value)),
    }));

    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: '@ft/backend-onnx',
      docString,
      opsetImport: [{ domain: '', version: OPSET_VERSION }],
      graph: {
        name: this.graphName,
        node,
        initializer,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function encodeAttribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const types = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: types.INT, i: value } : { name, type: types.FLOAT, f: value };
  }
  if (typeof value === 'string') {
    return { name, type: types.STRING, s: new TextEncoder().encode(value) };
  }
  if ('float' in value) {
    return { name, type: types.FLOAT, f: value.float };
  }
  if ('ints' in value) {
    return { name, type: types.INTS, ints: [...value.ints] };
  }
  return { name, type: types.INTS, ints: [...(value as readonly number[])] };
}
