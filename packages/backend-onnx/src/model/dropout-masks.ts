/**
 * Dropout masks made on the JavaScript side and fed to the training graph as inputs.
 *
 * ONNX's Dropout and RandomUniform ops take their seed as a fixed attribute, so a graph built
 * once would draw the same mask at every step. A mask input keeps each step's mask
 * reproducible from the model seed and a call counter, which checkpoints save.
 */

/** Returns a generator of 32-bit unsigned integers (SplitMix32 finalizer over a counter). */
function counterGenerator(seed: number, call: number): () => number {
  let state = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(call | 0, 0x85ebca6b)) >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Fills a mask of `size` elements that keeps each element with probability 1 − `rate`,
 * scaled by 1/(1 − `rate`) as inverted dropout does. The same seed and call give the same mask.
 */
export function dropoutMask(size: number, rate: number, seed: number, call: number): Float32Array {
  const mask = new Float32Array(size);
  const next = counterGenerator(seed, call);
  const threshold = rate * 2 ** 32;
  const kept = 1 / (1 - rate);
  for (let index = 0; index < size; index++) {
    mask[index] = next() >= threshold ? kept : 0;
  }
  return mask;
}
