export {
  buildBertTokenizerJson,
  DEFAULT_BERT_TOKENIZER_SETTINGS,
  loadBertTokenizer,
  parseVocabTxt,
  readBertTokenizerSettings,
  type BertTokenizerOptions,
  type BertTokenizerSettings,
} from './wordpiece.js';
export {
  buildUniversalSentenceEncoderTokenizerJson,
  loadUniversalSentenceEncoderTokenizer,
  type UnigramVocabEntry,
} from './unigram.js';
export { createHfTextTokenizer, type HfTextTokenizerSettings, type TokenizerJson } from './hf-text-tokenizer.js';
