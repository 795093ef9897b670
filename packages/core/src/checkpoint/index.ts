export {
  checkBertWeights,
  expectedBertWeightShapes,
  loadBertCheckpoint,
  normalizeBertWeightNames,
  parseBertConfig,
  saveBertCheckpoint,
  type BertCheckpoint,
  type LoadBertCheckpointOptions,
} from './hf-folder.js';
export {
  parseSafetensors,
  readSafetensors,
  readSafetensorsWithMetadata,
  serializeSafetensors,
  writeSafetensors,
  type SafetensorsContents,
} from './safetensors.js';
