import type { ModelHandle } from '../backend/backend.js';
import type { OutputDescription } from '../backend/model-description.js';
import { batchIndices, makeBatch, type PreparedSplit } from '../data/batcher.js';
import { outputMetrics, type MetricValues, type OutputMetricSettings } from './metrics.js';

/** Metrics of one split: per output feature, plus `combined.loss`, the weighted sum of output losses. */
export type SplitMetrics = Record<string, MetricValues>;

/** Predictions of one split: per output, row-major logits. */
export type SplitPredictions = Record<string, Float32Array>;

/** Runs the model over a whole split in inference mode and returns its logits per output. */
export async function predictSplit(model: ModelHandle, prepared: PreparedSplit, outputs: readonly OutputDescription[], batchSize: number): Promise<SplitPredictions> {
  const widths = Object.fromEntries(outputs.map((output) => [output.name, output.kind === 'category' ? output.numClasses : 1]));
  const predictions: SplitPredictions = Object.fromEntries(outputs.map((output) => [output.name, new Float32Array(prepared.rows * widths[output.name]!)]));

  const order = Array.from({ length: prepared.rows }, (_, index) => index);
  let offset = 0;
  for (let start = 0; start < order.length; start += batchSize) {
    const indices = order.slice(start, start + batchSize);
    const logits = await model.forward(makeBatch(prepared, indices));
    for (const output of outputs) {
      predictions[output.name]!.set(logits[output.name]!, offset * widths[output.name]!);
    }
    offset += indices.length;
  }
  return predictions;
}

/** Computes the metrics of every output and the combined loss from a split's predictions. */
export function splitMetrics(
  prepared: PreparedSplit,
  predictions: SplitPredictions,
  outputs: readonly OutputDescription[],
  settings: Readonly<Record<string, OutputMetricSettings>>,
): SplitMetrics {
  const metrics: SplitMetrics = {};
  let combined = 0;
  for (const output of outputs) {
    const target = prepared.targets[output.name]!;
    const values = target.kind === 'category' ? target.indices : target.values;
    metrics[output.name] = outputMetrics(output, predictions[output.name]!, values, settings[output.name]!);
    combined += output.lossWeight * metrics[output.name]!.loss!;
  }
  metrics.combined = { loss: combined };
  return metrics;
}

/** Predicts a split and returns its metrics and predictions. */
export async function evaluateSplit(
  model: ModelHandle,
  prepared: PreparedSplit,
  outputs: readonly OutputDescription[],
  settings: Readonly<Record<string, OutputMetricSettings>>,
  batchSize: number,
): Promise<{ metrics: SplitMetrics; predictions: SplitPredictions }> {
  const predictions = await predictSplit(model, prepared, outputs, batchSize);
  return { metrics: splitMetrics(prepared, predictions, outputs, settings), predictions };
}

export { batchIndices };
