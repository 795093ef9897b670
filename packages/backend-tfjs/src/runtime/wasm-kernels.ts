/**
 * Kernel fixes for the TensorFlow.js `wasm` backend (tfjs 4.22), needed to train on it.
 *
 * - `UnsortedSegmentSum` is not registered for `wasm`, and the gradient of `gather` (every
 *   embedding lookup) calls it, so backprop through an embedding fails without it.
 * - `BatchMatMul` on `wasm` takes the XNNPACK path only when both inputs have batch size 1 and
 *   neither is transposed. Every other call runs a scalar loop in C++. Backprop requests
 *   transposed operands on every matMul, so the wrapper transposes explicitly and folds batch
 *   dimensions into 2-D products that XNNPACK handles.
 *
 * Both kernels read and write the backend's heap through `dataIdMap`, which is not public API,
 * so the shape of those internals is pinned in `WasmBackendInternals` below.
 */
import * as tf from '@tensorflow/tfjs-core';
// Imported for its side effect: it registers the `wasm` backend and its kernels, which must
// exist before `registerWasmKernelFixes` wraps the original `BatchMatMul`.
import '@tensorflow/tfjs-backend-wasm';

const BACKEND_NAME = 'wasm';

/** Mark on our `BatchMatMul` kernelFunc. `Symbol.for` keeps it the same across module copies. */
const WRAPPED_MARK = Symbol.for('ft.backend-tfjs.wasmBatchMatMulWrapper');

/** The per-tensor record the wasm backend keeps in `dataIdMap`. */
interface WasmTensorData {
  id: number;
  memoryOffset: number;
}

/** The internals of `BackendWasm` (tfjs-backend-wasm 4.22) that these kernels use. */
interface WasmBackendInternals {
  dataIdMap: {
    get(dataId: tf.DataId): WasmTensorData;
    delete(dataId: tf.DataId): boolean;
  };
  wasm: {
    HEAPU8: Uint8Array;
    tfjs: { disposeData(id: number): void };
  };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: tf.DataId): boolean;
}

type KernelParams = Parameters<tf.KernelFunc>[0];

/**
 * Registers the `UnsortedSegmentSum` kernel and the `BatchMatMul` wrapper for the `wasm` backend.
 *
 * Safe to call more than once, before or after `tf.setBackend('wasm')`, because a kernel that is
 * already in place is left alone.
 */
export function registerWasmKernelFixes(): void {
  registerUnsortedSegmentSum();
  wrapBatchMatMul();
}

function registerUnsortedSegmentSum(): void {
  if (tf.getKernel(tf.UnsortedSegmentSum, BACKEND_NAME) !== undefined) {
    return;
  }
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName: BACKEND_NAME,
    kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
  });
}

/**
 * Sums the rows of `x` into `numSegments` rows selected by `segmentIds`.
 *
 * `segmentIds` covers the leading dimensions of `x`, so the output has shape
 * `[numSegments, ...x.shape.slice(segmentIds.rank)]` and the dtype of `x`, as in TensorFlow.
 * Ids outside `[0, numSegments)` are skipped, as the tfjs `cpu` backend does.
 */
function unsortedSegmentSum({ inputs, backend, attrs }: KernelParams): tf.TensorInfo {
  const { x, segmentIds } = inputs as tf.UnsortedSegmentSumInputs;
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const wasmBackend = backend as WasmBackendInternals;

  if (x === undefined || segmentIds === undefined) {
    throw new Error('UnsortedSegmentSum on wasm: inputs x and segmentIds are required.');
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum on wasm supports float32 and int32 x, but got ${x.dtype}.`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum on wasm needs int32 segmentIds, but got ${segmentIds.dtype}.`);
  }
  const idsRank = segmentIds.shape.length;
  const leadingShape = x.shape.slice(0, idsRank);
  if (idsRank > x.shape.length || leadingShape.some((size, axis) => size !== segmentIds.shape[axis])) {
    throw new Error(
      `UnsortedSegmentSum on wasm: segmentIds shape [${segmentIds.shape.join(', ')}] must equal ` +
        `the leading dimensions of x shape [${x.shape.join(', ')}].`,
    );
  }

  const innerShape = x.shape.slice(idsRank);
  const rowSize = tf.util.sizeFromShape(innerShape);
  const out = wasmBackend.makeOutput([numSegments, ...innerShape], x.dtype);

  // Views are taken after the only allocation above, because growing the heap detaches them.
  const xValues = wasmBackend.typedArrayFromHeap(x);
  const ids = wasmBackend.typedArrayFromHeap(segmentIds);
  const outValues = wasmBackend.typedArrayFromHeap(out);
  outValues.fill(0);

  for (let row = 0; row < ids.length; row++) {
    const segment = ids[row]!;
    if (segment < 0 || segment >= numSegments) {
      continue;
    }
    const source = row * rowSize;
    const target = segment * rowSize;
    for (let i = 0; i < rowSize; i++) {
      outValues[target + i]! += xValues[source + i]!;
    }
  }
  return out;
}

function wrapBatchMatMul(): void {
  const original = tf.getKernel(tf.BatchMatMul, BACKEND_NAME);
  if (original === undefined) {
    throw new Error(
      'The wasm BatchMatMul kernel is not registered, so it cannot be wrapped. ' +
        'Check that @tensorflow/tfjs-backend-wasm is installed and imported.',
    );
  }
  if ((original.kernelFunc as unknown as Record<symbol, unknown>)[WRAPPED_MARK] === true) {
    return;
  }

  const kernelFunc = ((params: KernelParams) => batchMatMul(params, original)) as tf.KernelFunc;
  Object.defineProperty(kernelFunc, WRAPPED_MARK, { value: true });

  tf.unregisterKernel(tf.BatchMatMul, BACKEND_NAME);
  tf.registerKernel({
    kernelName: tf.BatchMatMul,
    backendName: BACKEND_NAME,
    // The original setup binds the C++ function, so it must still run when the backend initializes.
    ...(original.setupFunc === undefined ? {} : { setupFunc: original.setupFunc }),
    ...(original.disposeFunc === undefined ? {} : { disposeFunc: original.disposeFunc }),
    kernelFunc,
  });
}

/** Operand shapes of a batched matMul after the transposes are applied. */
interface MatMulGeometry {
  /** Rows of the output (M). */
  rows: number;
  /** Inner (contracted) dimension (K). */
  inner: number;
  /** Columns of the output (N). */
  columns: number;
  batchShapeA: number[];
  batchShapeB: number[];
  outBatchShape: number[];
}

function batchMatMul(params: KernelParams, original: tf.KernelConfig): tf.TensorInfo {
  const { a, b } = params.inputs as tf.BatchMatMulInputs;
  const { transposeA, transposeB } = params.attrs as unknown as tf.BatchMatMulAttrs;
  const backend = params.backend as WasmBackendInternals;

  // The original kernel reports unsupported dtypes and ranks with its own messages.
  if (a === undefined || b === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return original.kernelFunc(params) as tf.TensorInfo;
  }
  if (a.shape.length < 2 || b.shape.length < 2) {
    return original.kernelFunc(params) as tf.TensorInfo;
  }

  const geometry = matMulGeometry(a, b, transposeA, transposeB);
  const outShape = [...geometry.outBatchShape, geometry.rows, geometry.columns];
  if (tf.util.sizeFromShape(outShape) === 0 || geometry.inner === 0) {
    const out = backend.makeOutput(outShape, 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }

  const batchA = tf.util.sizeFromShape(geometry.batchShapeA);
  const batchB = tf.util.sizeFromShape(geometry.batchShapeB);
  const context: MatMulContext = { backend, original, temporaries: [] };
  try {
    let out: tf.TensorInfo;
    if (batchB === 1) {
      out = matMulFoldingA(context, a, b, transposeA, transposeB, geometry);
    } else if (batchA === 1) {
      out = matMulFoldingB(context, a, b, transposeA, transposeB, geometry);
    } else {
      out = matMulPerBatch(context, a, b, transposeA, transposeB, geometry);
    }
    return { ...out, shape: outShape };
  } finally {
    for (const temporary of context.temporaries) {
      backend.disposeData(temporary.dataId);
    }
  }
}

interface MatMulContext {
  backend: WasmBackendInternals;
  original: tf.KernelConfig;
  /** Tensors allocated by the wrapper that must be freed when the call ends. */
  temporaries: tf.TensorInfo[];
}

function matMulGeometry(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): MatMulGeometry {
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const rows = a.shape[transposeA ? aRank - 1 : aRank - 2]!;
  const innerA = a.shape[transposeA ? aRank - 2 : aRank - 1]!;
  const innerB = b.shape[transposeB ? bRank - 1 : bRank - 2]!;
  const columns = b.shape[transposeB ? bRank - 2 : bRank - 1]!;
  if (innerA !== innerB) {
    throw new Error(
      `Error in matMul: inner shapes (${innerA}) and (${innerB}) of Tensors with shapes ` +
        `[${a.shape.join(', ')}] and [${b.shape.join(', ')}] and transposeA=${transposeA} ` +
        `and transposeB=${transposeB} must match.`,
    );
  }
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const outBatchShape = tf.broadcast_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
  return { rows, inner: innerA, columns, batchShapeA, batchShapeB, outBatchShape };
}

/** Returns a tensor info that shares `info`'s data under another shape of the same size. */
function withShape(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/**
 * Swaps the last two axes with the backend's own Transpose kernel. The result is freed with the
 * other temporaries unless `isOutput` is set.
 */
function swapLastAxes(context: MatMulContext, info: tf.TensorInfo, isOutput = false): tf.TensorInfo {
  const rank = info.shape.length;
  const perm = [...Array(rank).keys()];
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;

  const transposeKernel = tf.getKernel(tf.Transpose, BACKEND_NAME);
  if (transposeKernel === undefined) {
    throw new Error('The wasm Transpose kernel is not registered. Check the @tensorflow/tfjs-backend-wasm install.');
  }
  const transposed = transposeKernel.kernelFunc({
    inputs: { x: info },
    backend: context.backend,
    attrs: { perm },
  }) as tf.TensorInfo;
  if (!isOutput) {
    context.temporaries.push(transposed);
  }
  return transposed;
}

/**
 * Runs the original kernel on `[rows, inner] x [inner, columns]`, the case XNNPACK handles.
 *
 * The right operand is passed as a fresh alias of its memory. The wasm backend caches one XNNPACK
 * operator, holding a packed copy of the right operand, per tensor id and not per shape. So a
 * reshape of the same data would reuse a stale operator and give wrong results, and every weight
 * would keep a packed copy alive. Releasing the alias frees its operator.
 */
function matMul2d(
  context: MatMulContext,
  left: tf.TensorInfo,
  rightOffset: number,
  [rows, inner, columns]: [number, number, number],
): tf.TensorInfo {
  const { backend } = context;
  const rightAlias = backend.makeOutput([1, inner, columns], 'float32', rightOffset);
  try {
    return context.original.kernelFunc({
      inputs: { a: withShape(left, [1, rows, inner]), b: rightAlias },
      backend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
  } finally {
    releaseAlias(backend, rightAlias);
  }
}

function memoryOffset(backend: WasmBackendInternals, info: tf.TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).memoryOffset;
}

/** Handles `b` without batch: stacks every batch of `a` into the rows of one 2-D product. */
function matMulFoldingA(
  context: MatMulContext,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  { rows, inner, columns, batchShapeA }: MatMulGeometry,
): tf.TensorInfo {
  const left = transposeA ? swapLastAxes(context, a) : a;
  const right = transposeB ? swapLastAxes(context, b) : b;
  const stackedRows = tf.util.sizeFromShape(batchShapeA) * rows;
  return matMul2d(context, left, memoryOffset(context.backend, right), [stackedRows, inner, columns]);
}

/**
 * Handles `a` without batch through the transposed product: out[i]ᵀ = b[i]ᵀ · aᵀ, which stacks
 * every batch of `b` into rows, then swaps the last two axes of the result back.
 */
function matMulFoldingB(
  context: MatMulContext,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  { rows, inner, columns, batchShapeB }: MatMulGeometry,
): tf.TensorInfo {
  const batch = tf.util.sizeFromShape(batchShapeB);
  const bTransposed = transposeB ? b : swapLastAxes(context, b);
  const aTransposed = transposeA ? a : swapLastAxes(context, a);

  const product = matMul2d(context, bTransposed, memoryOffset(context.backend, aTransposed), [
    batch * columns,
    inner,
    rows,
  ]);
  context.temporaries.push(product);
  return swapLastAxes(context, withShape(product, [batch, columns, rows]), true);
}

/**
 * Handles batches on both sides: one 2-D product per output batch, on operands that alias
 * slices of the inputs, with broadcasting of the batch dimensions.
 */
function matMulPerBatch(
  context: MatMulContext,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  geometry: MatMulGeometry,
): tf.TensorInfo {
  const { backend } = context;
  const { rows, inner, columns, outBatchShape } = geometry;
  const left = transposeA ? swapLastAxes(context, a) : a;
  const right = transposeB ? swapLastAxes(context, b) : b;

  const outBatch = tf.util.sizeFromShape(outBatchShape);
  const out = backend.makeOutput([...outBatchShape, rows, columns], 'float32');
  const bytesPerFloat = 4;
  const leftBytes = rows * inner * bytesPerFloat;
  const rightBytes = inner * columns * bytesPerFloat;
  const outBytes = rows * columns * bytesPerFloat;
  const batchIndexA = broadcastBatchIndices(geometry.batchShapeA, outBatchShape);
  const batchIndexB = broadcastBatchIndices(geometry.batchShapeB, outBatchShape);

  try {
    for (let batch = 0; batch < outBatch; batch++) {
      const leftOffset = memoryOffset(backend, left) + batchIndexA[batch]! * leftBytes;
      const rightOffset = memoryOffset(backend, right) + batchIndexB[batch]! * rightBytes;
      const leftSlice = backend.makeOutput([1, rows, inner], 'float32', leftOffset);
      try {
        const product = matMul2d(context, leftSlice, rightOffset, [rows, inner, columns]);
        const productOffset = memoryOffset(backend, product);
        const outOffset = memoryOffset(backend, out) + batch * outBytes;
        // Read HEAPU8 after the product is allocated, because growing the heap replaces it.
        backend.wasm.HEAPU8.copyWithin(outOffset, productOffset, productOffset + outBytes);
        backend.disposeData(product.dataId);
      } finally {
        releaseAlias(backend, leftSlice);
      }
    }
  } catch (error) {
    backend.disposeData(out.dataId);
    throw error;
  }
  return out;
}

/**
 * Unregisters a tensor made by `makeOutput` with a memory offset into another tensor's data.
 * `disposeData` would free that memory, so the alias is only removed from both registries.
 */
function releaseAlias(backend: WasmBackendInternals, alias: tf.TensorInfo): void {
  const { id } = backend.dataIdMap.get(alias.dataId);
  backend.wasm.tfjs.disposeData(id);
  backend.dataIdMap.delete(alias.dataId);
}

/** Maps each flat output batch index to the flat batch index of an operand under broadcasting. */
function broadcastBatchIndices(operandBatchShape: number[], outBatchShape: number[]): Int32Array {
  const outSize = tf.util.sizeFromShape(outBatchShape);
  const indices = new Int32Array(outSize);
  const offset = outBatchShape.length - operandBatchShape.length;
  const operandStrides = tf.util.computeStrides(operandBatchShape);
  const outStrides = tf.util.computeStrides(outBatchShape);

  for (let flat = 0; flat < outSize; flat++) {
    let remainder = flat;
    let operandIndex = 0;
    for (let axis = 0; axis < outBatchShape.length; axis++) {
      const stride = outStrides[axis] ?? 1;
      const coordinate = Math.floor(remainder / stride);
      remainder -= coordinate * stride;
      const operandAxis = axis - offset;
      if (operandAxis >= 0 && operandBatchShape[operandAxis] !== 1) {
        operandIndex += coordinate * (operandStrides[operandAxis] ?? 1);
      }
    }
    indices[flat] = operandIndex;
  }
  return indices;
}
