import type { FtConfig } from './schema.js';

/** Source of a learning rate, for logs and the resolved config. */
export interface ResolvedLearningRate {
  readonly value: number;
  readonly reason: string;
}

/**
 * Resolves `trainer.learning_rate: auto` from the encoders in the config: fine-tuning a
 * pretrained encoder needs small steps so it keeps what it learned, a frozen one allows twice
 * that, and models trained from scratch take larger steps.
 */
export function resolveLearningRate(config: FtConfig): ResolvedLearningRate {
  const configured = config.trainer.learning_rate;
  if (configured !== 'auto') {
    return { value: configured, reason: 'set in the config' };
  }

  const textInputs = config.input_features.filter((feature) => feature.type === 'text');
  if (textInputs.length === 0) {
    return { value: 1e-3, reason: 'auto: no text input' };
  }

  const pretrained = textInputs.filter((feature) => feature.encoder.type === 'universal_sentence_encoder' || feature.encoder.use_pretrained);
  if (pretrained.length === 0) {
    return { value: 1e-4, reason: 'auto: no pretrained encoder' };
  }
  if (pretrained.some((feature) => feature.encoder.trainable)) {
    return { value: 1e-5, reason: 'auto: a pretrained encoder is trainable' };
  }
  return { value: 2e-5, reason: 'auto: every pretrained encoder is frozen' };
}

/** Multiplier applied to the base learning rate for `workers` data-parallel workers. */
export function learningRateScale(scaling: FtConfig['trainer']['learning_rate_scaling'], workers: number): number {
  switch (scaling) {
    case 'constant':
      return 1;
    case 'sqrt':
      return Math.sqrt(workers);
    case 'linear':
      return workers;
  }
}
