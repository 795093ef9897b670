/**
 * Dropout masks made on the JavaScript side and fed to the training graph as inputs.
 *
 * ONNX's Dropout and RandomUniform ops take their seed as a fixed attribute, so a graph built
 * once would draw the same mask at every step. A mask input keeps each step's mask
 * reproducible from the model seed and a call counter, which checkpoints save.
 */

/**
 * Fills a mask of `size` elements that keeps each element with probability 1 − `rate`,
 * scaled by 1/(1 − `rate`) as inverted dropout does. The same seed and call give the same mask.
 *
 * Each element draws one SplitMix32 number (the finalizer over a counter). The generator is
 * written inline, with the state kept as an int32, because BERT-mini's training step draws about
 * 9 million numbers. In Node 20 the loop ran two to three times slower through a closure per
 * draw, or with its start state returned by a helper function.
 */
export function dropoutMask(size: number, rate: number, seed: number, call: number): Float32Array {
  const mask = new Float32Array(size);
  const threshold = rate * 2 ** 32;
  const kept = 1 / (1 - rate);
  let state = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(call | 0, 0x85ebca6b)) | 0;
  for (let index = 0; index < size; index++) {
    // As an int32 the state has the same 32 bits as the uint32 counter, and imul, ^ and >>> read only those bits.
    state = (state + 0x9e3779b9) | 0;
    let z = Math.imul(state ^ (state >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    mask[index] = (z ^ (z >>> 16)) >>> 0 >= threshold ? kept : 0;
  }
  return mask;
}
