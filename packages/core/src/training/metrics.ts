import type { OutputDescription } from '../backend/model-description.js';

/** Metric name to value for one output feature on one split. */
export type MetricValues = Record<string, number>;

function logSoftmaxRow(logits: Float32Array, offset: number, width: number): Float64Array {
  let max = -Infinity;
  for (let j = 0; j < width; j++) {
    max = Math.max(max, logits[offset + j]!);
  }
  let sum = 0;
  for (let j = 0; j < width; j++) {
    sum += Math.exp(logits[offset + j]! - max);
  }
  const logSum = Math.log(sum) + max;
  const result = new Float64Array(width);
  for (let j = 0; j < width; j++) {
    result[j] = logits[offset + j]! - logSum;
  }
  return result;
}

/**
 * Area under the ROC curve by the rank-sum (Mann-Whitney U) formula, with tied scores given
 * their average rank. Returns NaN when only one class is present.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, index) => index).sort((a, b) => scores[a]! - scores[b]!);
  const ranks = new Float64Array(scores.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]!] === scores[order[start]!]) {
      end++;
    }
    const averageRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) {
      ranks[order[k]!] = averageRank;
    }
    start = end + 1;
  }

  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) {
      positives++;
      rankSum += ranks[i]!;
    }
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    return Number.NaN;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Computes category metrics from logits `[rows × classes]`. They are cross-entropy loss,
 * accuracy (the share of rows predicted right), macro accuracy (mean recall per class, Ludwig's
 * `accuracy`), hits@k (reported only with more classes than k), and one-vs-rest macro ROC AUC
 * over the classes present.
 */
export function categoryMetrics(logits: Float32Array, targets: Int32Array, numClasses: number, topK: number, classWeights: readonly number[] | null): MetricValues {
  const rows = targets.length;
  let loss = 0;
  let weightSum = 0;
  let correct = 0;
  let hits = 0;
  const perClassTotal = new Float64Array(numClasses);
  const perClassCorrect = new Float64Array(numClasses);
  const allProbabilities = new Float64Array(rows * numClasses);

  for (let i = 0; i < rows; i++) {
    const target = targets[i]!;
    const logProbabilities = logSoftmaxRow(logits, i * numClasses, numClasses);
    logProbabilities.forEach((value, c) => (allProbabilities[i * numClasses + c] = Math.exp(value)));
    const weight = classWeights?.[target] ?? 1;
    loss -= weight * logProbabilities[target]!;
    weightSum += weight;

    let predicted = 0;
    let rank = 0;
    for (let j = 0; j < numClasses; j++) {
      if (logProbabilities[j]! > logProbabilities[predicted]!) {
        predicted = j;
      }
      if (logProbabilities[j]! > logProbabilities[target]!) {
        rank++;
      }
    }
    perClassTotal[target]! += 1;
    if (predicted === target) {
      correct++;
      perClassCorrect[target]! += 1;
    }
    if (rank < topK) {
      hits++;
    }
  }

  // One-vs-rest ROC AUC per class present in the targets, from softmax probabilities.
  let aucSum = 0;
  let aucClasses = 0;
  const probabilities = new Float64Array(rows);
  const isClass = new Uint8Array(rows);
  for (let c = 0; c < numClasses; c++) {
    if (perClassTotal[c] === 0 || perClassTotal[c] === rows) {
      continue;
    }
    for (let i = 0; i < rows; i++) {
      probabilities[i] = allProbabilities[i * numClasses + c]!;
      isClass[i] = targets[i] === c ? 1 : 0;
    }
    aucSum += rocAuc(probabilities, isClass);
    aucClasses++;
  }

  let recallSum = 0;
  let classesPresent = 0;
  for (let c = 0; c < numClasses; c++) {
    if (perClassTotal[c]! > 0) {
      recallSum += perClassCorrect[c]! / perClassTotal[c]!;
      classesPresent++;
    }
  }
  const metrics: MetricValues = {
    loss: loss / Math.max(weightSum, 1e-12),
    accuracy: correct / rows,
    accuracy_macro: recallSum / Math.max(1, classesPresent),
    roc_auc: aucClasses === 0 ? Number.NaN : aucSum / aucClasses,
  };
  if (numClasses > topK) {
    metrics.hits_at_k = hits / rows;
  }
  return metrics;
}

/** Binary metrics from logits `[rows]`: weighted cross-entropy loss and threshold metrics at `threshold`. */
export function binaryMetrics(logits: Float32Array, targets: Float32Array, threshold: number, positiveClassWeight: number | null): MetricValues {
  const rows = targets.length;
  const positiveWeight = positiveClassWeight ?? 1;
  let loss = 0;
  let truePositive = 0;
  let falsePositive = 0;
  let trueNegative = 0;
  let falseNegative = 0;
  const probabilities = new Float64Array(rows);

  for (let i = 0; i < rows; i++) {
    const z = logits[i]!;
    const y = targets[i]!;
    // log(1 + e^-|z|) keeps both log-sigmoid terms finite for large |z|.
    const softplusNegAbs = Math.log1p(Math.exp(-Math.abs(z)));
    const logSigmoid = Math.min(z, 0) - softplusNegAbs;
    const logOneMinusSigmoid = Math.min(-z, 0) - softplusNegAbs;
    loss -= positiveWeight * y * logSigmoid + (1 - y) * logOneMinusSigmoid;

    probabilities[i] = 1 / (1 + Math.exp(-z));
    const predicted = probabilities[i]! >= threshold ? 1 : 0;
    if (predicted === 1 && y === 1) truePositive++;
    else if (predicted === 1) falsePositive++;
    else if (y === 0) trueNegative++;
    else falseNegative++;
  }

  const ratio = (numerator: number, denominator: number): number => (denominator === 0 ? 0 : numerator / denominator);
  return {
    loss: loss / rows,
    accuracy: (truePositive + trueNegative) / rows,
    precision: ratio(truePositive, truePositive + falsePositive),
    recall: ratio(truePositive, truePositive + falseNegative),
    specificity: ratio(trueNegative, trueNegative + falsePositive),
    roc_auc: rocAuc(probabilities, targets),
  };
}

/** Regression metrics; `loss` is in the units the model trains on, the others in the column's own units. */
export function numberMetrics(predictions: Float32Array, targets: Float32Array, loss: 'mean_squared_error' | 'mean_absolute_error', toColumnUnits: (value: number) => number): MetricValues {
  const rows = targets.length;
  let trainedLoss = 0;
  let squared = 0;
  let absolute = 0;
  let mean = 0;
  for (let i = 0; i < rows; i++) {
    const difference = predictions[i]! - targets[i]!;
    trainedLoss += loss === 'mean_squared_error' ? difference * difference : Math.abs(difference);
    mean += toColumnUnits(targets[i]!);
  }
  mean /= rows;

  let total = 0;
  for (let i = 0; i < rows; i++) {
    const target = toColumnUnits(targets[i]!);
    const difference = toColumnUnits(predictions[i]!) - target;
    squared += difference * difference;
    absolute += Math.abs(difference);
    total += (target - mean) ** 2;
  }
  return {
    loss: trainedLoss / rows,
    mean_squared_error: squared / rows,
    root_mean_squared_error: Math.sqrt(squared / rows),
    mean_absolute_error: absolute / rows,
    r2: rows < 2 || total === 0 ? Number.NaN : 1 - squared / total,
  };
}

/** Settings per output that metrics need beyond the model description. */
export interface OutputMetricSettings {
  readonly topK: number;
  readonly threshold: number;
  readonly toColumnUnits: (value: number) => number;
}

/** Computes every metric of one output from its logits and targets. */
export function outputMetrics(output: OutputDescription, logits: Float32Array, targets: Int32Array | Float32Array, settings: OutputMetricSettings): MetricValues {
  switch (output.kind) {
    case 'category':
      return categoryMetrics(logits, targets as Int32Array, output.numClasses, settings.topK, output.classWeights);
    case 'binary':
      return binaryMetrics(logits, targets as Float32Array, settings.threshold, output.positiveClassWeight);
    case 'number':
      return numberMetrics(logits, targets as Float32Array, output.loss, settings.toColumnUnits);
  }
}
