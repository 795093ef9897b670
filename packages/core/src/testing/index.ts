export {
  createRandomBertWeights,
  createTinyBertCheckpoint,
  TINY_BERT_SPECIAL_TOKENS,
  TINY_BERT_VOCAB,
  type TinyBertCheckpoint,
  type TinyBertOptions,
} from './tiny-bert.js';
