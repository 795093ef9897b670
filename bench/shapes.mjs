// Model shapes shared by the benchmarks, as BertArchitecture objects over bert-base-uncased's defaults.
import { BERT_BASE_ARCHITECTURE } from '@ft/core';

/** BERT-mini (google/bert_uncased_L-4_H-256_A-4): the shape the PyTorch reference runs by default. */
export const BERT_MINI = { ...BERT_BASE_ARCHITECTURE, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024 };
