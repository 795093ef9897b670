import { describe, expect, it, vi } from 'vitest';

import { createInterruptHandler } from '../src/commands/train.js';

describe('createInterruptHandler', () => {
  it('first Ctrl-C aborts training', () => {
    const controller = new AbortController();
    const first = vi.fn();
    const second = vi.fn();
    createInterruptHandler(controller, { first, second })();
    expect(controller.signal.aborted).toBe(true);
    expect(first).toHaveBeenCalledTimes(1);
    expect(second).not.toHaveBeenCalled();
  });

  it('second Ctrl-C exits at once', () => {
    const controller = new AbortController();
    const first = vi.fn();
    const second = vi.fn();
    const handler = createInterruptHandler(controller, { first, second });
    handler();
    handler();
    expect(first).toHaveBeenCalledTimes(1);
    expect(second).toHaveBeenCalledTimes(1);
  });
});
