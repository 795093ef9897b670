/** Element types that cross the boundary between core and a backend. */
export type ArrayDType = 'float32' | 'int32';

/** A dense row-major array with its shape, the unit in which weights and batches move between core and a backend. */
export type NamedArray =
  | { readonly dtype: 'float32'; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: 'int32'; readonly shape: readonly number[]; readonly data: Int32Array };

/** Arrays keyed by name: model weights use Hugging Face names for the encoder, for example `encoder.layer.0.attention.self.query.weight`. */
export type NamedArrays = Record<string, NamedArray>;

/** Returns the number of elements a shape describes. */
export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const dimension of shape) {
    size *= dimension;
  }
  return size;
}

/** Creates a float32 array with its shape, checking that the data length matches the shape. */
export function float32Array(data: Float32Array, shape: readonly number[]): NamedArray {
  if (data.length !== shapeSize(shape)) {
    throw new RangeError(`float32Array: data has ${data.length} elements but shape [${shape.join(', ')}] needs ${shapeSize(shape)}.`);
  }
  return { dtype: 'float32', shape: [...shape], data };
}

/** Creates an int32 array with its shape, checking that the data length matches the shape. */
export function int32Array(data: Int32Array, shape: readonly number[]): NamedArray {
  if (data.length !== shapeSize(shape)) {
    throw new RangeError(`int32Array: data has ${data.length} elements but shape [${shape.join(', ')}] needs ${shapeSize(shape)}.`);
  }
  return { dtype: 'int32', shape: [...shape], data };
}

/** Returns true when no element of any array is NaN or infinite. */
export function allFinite(arrays: NamedArrays): boolean {
  for (const array of Object.values(arrays)) {
    for (const value of array.data) {
      if (!Number.isFinite(value)) {
        return false;
      }
    }
  }
  return true;
}
