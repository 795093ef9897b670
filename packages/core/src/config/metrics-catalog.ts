import type { FeatureType } from './features.js';

/** Whether a larger or a smaller value of a metric is better. */
export type MetricGoal = 'max' | 'min';

/** Metrics reported for each output feature type, with the direction in which they improve. */
export const OUTPUT_METRICS: Record<Exclude<FeatureType, 'text'>, Record<string, MetricGoal>> = {
  category: { loss: 'min', accuracy: 'max', accuracy_macro: 'max', hits_at_k: 'max', roc_auc: 'max' },
  binary: { loss: 'min', accuracy: 'max', precision: 'max', recall: 'max', specificity: 'max', roc_auc: 'max' },
  number: { loss: 'min', mean_squared_error: 'min', root_mean_squared_error: 'min', mean_absolute_error: 'min', r2: 'max' },
};

/** The metric that selects the best checkpoint when `trainer.validation_metric` is unset. */
export const DEFAULT_VALIDATION_METRIC: Record<Exclude<FeatureType, 'text'>, string> = {
  category: 'accuracy',
  binary: 'roc_auc',
  number: 'mean_squared_error',
};
