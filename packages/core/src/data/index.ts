export { batchIndices, makeBatch, type PreparedSplit } from './batcher.js';
export { readCsv, type Table } from './csv.js';
export { denormalize, encodeSplits, UNKNOWN_CATEGORY, type EncodedSplit, type FeatureMetadata } from './features.js';
export { loadSplits, resolveDatasetSources, type DatasetSources, type RowSet, type SplitName } from './sources.js';
export { fixedSplit, randomSplit, randomSplitCuts, type SplitIndices } from './split.js';
