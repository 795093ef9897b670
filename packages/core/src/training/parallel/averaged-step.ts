import type { ModelHandle, TrainStepOptions, TrainStepResult } from '../../backend/backend.js';
import type { TrainingBatch } from '../../backend/model-description.js';
import { allFinite } from '../../tensors/named-arrays.js';

/**
 * Runs one training step of a data-parallel model: averaged gradients, then one update on every
 * replica. Every replica gets the same average, so under loss scaling every replica skips the
 * same updates.
 */
export async function trainStepFromAverage(
  model: Pick<ModelHandle, 'computeGradients' | 'applyGradients'>,
  batch: TrainingBatch,
  learningRate: number,
  options?: TrainStepOptions,
): Promise<TrainStepResult> {
  const { loss, outputLosses, gradients } = await model.computeGradients(batch, options);
  if (options?.lossScale !== undefined && !allFinite(gradients)) {
    return { loss, outputLosses, gradientsFinite: false };
  }
  await model.applyGradients(gradients, learningRate);
  return { loss, outputLosses };
}
