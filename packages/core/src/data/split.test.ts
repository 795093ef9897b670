import { describe, expect, it } from 'vitest';

import { Random } from '../training/random.js';
import { randomSplit, randomSplitCuts } from './split.js';

describe('randomSplitCuts', () => {
  it('splits 0.7 / 0.1 / 0.2', () => {
    expect(randomSplitCuts(100, [0.7, 0.1, 0.2])).toEqual([70, 80]);
  });

  it('keeps at least three rows in small splits', () => {
    // Ludwig's tests: 25 rows give (16, 19) for cuts (17, 19) and (19, 22) for (20, 22).
    expect(randomSplitCuts(25, [0.68, 0.08, 0.24])).toEqual([16, 19]);
    expect(randomSplitCuts(25, [0.8, 0.08, 0.12])).toEqual([19, 22]);
  });

  it('leaves empty splits empty', () => {
    expect(randomSplitCuts(10, [1, 0, 0])).toEqual([10, 10]);
  });
});

describe('randomSplit', () => {
  it('is reproducible from the seed', () => {
    const first = randomSplit(50, [0.7, 0.1, 0.2], new Random(42));
    const second = randomSplit(50, [0.7, 0.1, 0.2], new Random(42));
    const other = randomSplit(50, [0.7, 0.1, 0.2], new Random(7));
    expect(second).toEqual(first);
    expect(other.test).not.toEqual(first.test);
    expect(first.training.length + first.validation.length + first.test.length).toBe(50);
    expect(new Set([...first.training, ...first.validation, ...first.test]).size).toBe(50);
  });
});
