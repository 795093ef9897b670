import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

import type { TrainingStatistics } from '../training/trainer.js';

/** Renders a Vega-Lite spec to an SVG string without a browser or canvas. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const SPLIT_COLORS = { domain: ['training', 'validation', 'test'], range: ['#4c78a8', '#f58518', '#54a24b'] };

/**
 * Learning curves: one panel per output metric, one line per split, training steps on the x
 * axis (one point per evaluation), and a dashed rule at the step whose weights were kept.
 * Returns the Vega-Lite spec, or null when nothing was recorded.
 */
export function learningCurvesSpec(
  statistics: TrainingStatistics,
  feature: string,
  metrics: readonly string[],
  evaluationSteps: readonly number[],
  bestStep: number | null,
): TopLevelSpec | null {
  const values: { step: number; split: string; metric: string; value: number }[] = [];
  for (const [split, features] of Object.entries(statistics)) {
    for (const metric of metrics) {
      (features[feature]?.[metric] ?? []).forEach((value, index) => {
        if (Number.isFinite(value)) {
          values.push({ step: evaluationSteps[index] ?? index + 1, split, metric, value });
        }
      });
    }
  }
  if (values.length === 0) {
    return null;
  }
  const line = {
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: { field: 'step', type: 'quantitative' as const, title: 'step' },
      y: { field: 'value', type: 'quantitative' as const, scale: { zero: false }, title: null },
      color: { field: 'split', type: 'nominal' as const, scale: SPLIT_COLORS, title: 'split' },
    },
  };
  const best = { data: { values: [{ step: bestStep }] }, mark: { type: 'rule' as const, strokeDash: [4, 4], color: 'gray' }, encoding: { x: { field: 'step', type: 'quantitative' as const } } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Learning curves: ${feature}`,
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: 280,
      height: 200,
      layer: bestStep === null ? [line] : [line, best],
    },
    resolve: { scale: { y: 'independent' } },
  };
}

/** Learning rate and loss of every training step, with the loss also smoothed so its trend shows through batch noise. */
export function trainingStepsSpec(learningRate: readonly number[], loss: readonly number[]): TopLevelSpec {
  const stride = Math.max(1, Math.floor(learningRate.length / 2000));
  const values: { step: number; panel: string; series: string; value: number }[] = [];
  // Exponential moving average with the bias correction Adam uses, so early steps are not pulled toward 0.
  const decay = 0.95;
  let average = 0;
  for (let i = 0; i < learningRate.length; i++) {
    average = decay * average + (1 - decay) * loss[i]!;
    if (i % stride !== 0) {
      continue;
    }
    values.push({ step: i + 1, panel: 'learning rate', series: 'learning rate', value: learningRate[i]! });
    values.push({ step: i + 1, panel: 'training loss', series: 'batch', value: loss[i]! });
    values.push({ step: i + 1, panel: 'training loss', series: 'moving average', value: average / (1 - decay ** (i + 1)) });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Training steps',
    data: { values },
    facet: { row: { field: 'panel', type: 'nominal', title: null } },
    spec: {
      width: 600,
      height: 160,
      mark: { type: 'line', strokeWidth: 1 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'series', type: 'nominal', scale: { domain: ['learning rate', 'batch', 'moving average'], range: ['#4c78a8', '#b6c9e0', '#e45756'] }, title: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
}

/** Confusion matrix of a category output: counts in each cell, rows are true classes. */
export function confusionMatrixSpec(feature: string, split: string, classes: readonly string[], targets: Int32Array, predicted: Int32Array): TopLevelSpec {
  const counts = new Map<string, number>();
  for (let i = 0; i < targets.length; i++) {
    const key = `${targets[i]}:${predicted[i]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const values: { actual: string; predicted: string; count: number }[] = [];
  classes.forEach((actual, a) => classes.forEach((predictedClass, p) => values.push({ actual, predicted: predictedClass, count: counts.get(`${a}:${p}`) ?? 0 })));
  const size = Math.min(480, Math.max(160, classes.length * 40));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Confusion matrix: ${feature} (${split})`,
    data: { values },
    width: size,
    height: size,
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: [...classes], title: 'predicted' },
      y: { field: 'actual', type: 'nominal', sort: [...classes], title: 'actual' },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues' }, title: 'rows' } } },
      {
        mark: { type: 'text', fontSize: 12 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: `datum.count > ${Math.max(1, Math.floor(targets.length / Math.max(2, classes.length) / 2))}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}
