import { describe, expect, it } from 'vitest';

import { LossScaler, MIN_LOSS_SCALE } from './loss-scale.js';

describe('LossScaler', () => {
  it("starts at PyTorch GradScaler's defaults", () => {
    const scaler = new LossScaler();
    expect(scaler.scale).toBe(65536);
    expect([scaler.growthFactor, scaler.backoffFactor, scaler.growthInterval]).toEqual([2, 0.5, 2000]);
  });

  it('halves on overflow, then doubles', () => {
    const scaler = new LossScaler({ initialScale: 1024, growthInterval: 3 });
    scaler.update(false);
    expect(scaler.scale).toBe(512);
    scaler.update(true);
    scaler.update(true);
    expect(scaler.scale).toBe(512);
    scaler.update(true);
    expect(scaler.scale).toBe(1024);

    // An overflow restarts the count of clean updates.
    scaler.update(true);
    scaler.update(true);
    scaler.update(false);
    scaler.update(true);
    scaler.update(true);
    expect(scaler.scale).toBe(512);
    scaler.update(true);
    expect(scaler.scale).toBe(1024);
    expect(scaler.skippedUpdates).toBe(2);
  });

  it('follows the scale sequence of torch.amp.GradScaler', () => {
    // Scales that GradScaler(init_scale=8, growth_interval=2) reports after each of these
    // found_inf values, worked out from _amp_update_scale_.
    const foundInf = [false, false, true, false, true, true, false, false, false, false];
    const expected = [8, 16, 8, 8, 4, 2, 2, 4, 4, 8];
    const scaler = new LossScaler({ initialScale: 8, growthInterval: 2 });
    expect(foundInf.map((overflow) => (scaler.update(!overflow), scaler.scale))).toEqual(expected);
  });

  it('continues from a saved state', () => {
    const original = new LossScaler({ initialScale: 256, growthInterval: 4 });
    original.update(false);
    original.update(true);
    original.update(true);
    const restored = new LossScaler({ initialScale: 256, growthInterval: 4 }, original.state());
    expect(restored.state()).toEqual({ scale: 128, cleanUpdates: 2, skippedUpdates: 1 });
    restored.update(true);
    restored.update(true);
    expect(restored.scale).toBe(256);
  });

  it('never grows to Infinity', () => {
    const scaler = new LossScaler({ initialScale: 2 ** 127, growthInterval: 1 });
    scaler.update(true);
    expect(scaler.scale).toBe(2 ** 127 * 2);
    scaler.update(true);
    scaler.update(true);
    expect(Number.isFinite(scaler.scale)).toBe(true);
  });

  it('reports exhaustion below minimum', () => {
    const scaler = new LossScaler({ initialScale: MIN_LOSS_SCALE * 2 });
    scaler.update(false);
    expect(scaler.exhausted).toBe(false);
    scaler.update(false);
    expect(scaler.exhausted).toBe(true);
  });

  it('rejects factors that would never settle', () => {
    expect(() => new LossScaler({ growthFactor: 1 })).toThrow(/growthFactor must be > 1/);
    expect(() => new LossScaler({ backoffFactor: 1 })).toThrow(/backoffFactor in \(0, 1\)/);
    expect(() => new LossScaler({ growthInterval: 0 })).toThrow(/growthInterval ≥ 1/);
  });
});
