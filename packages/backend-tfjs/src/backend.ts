import * as tf from '@tensorflow/tfjs-core';
import type { Backend, BackendCapabilities, BackendContext, EncoderHandle, ModelDescription, ModelHandle, TextEncoderDescription } from '@ft/core';

import { BertEncoder } from './encoders/bert.js';
import { UniversalSentenceEncoder } from './encoders/universal-sentence-encoder.js';
import { TfjsModel } from './model/tfjs-model.js';
import type { TfjsOptions } from './options.js';
import { selectRuntime, type SelectedRuntime } from './runtime/select-runtime.js';

/** The TensorFlow.js backend on one runtime (tfjs-node, tfjs-node-gpu, wasm, cpu or webgpu). */
export class TfjsBackend implements Backend {
  readonly name = 'tfjs';
  readonly description: string;
  readonly capabilities: BackendCapabilities;

  private constructor(runtime: SelectedRuntime) {
    this.description = runtime.description;
    this.capabilities = {
      encoders: { bert: { trainable: true }, universal_sentence_encoder: { trainable: false } },
      mixedPrecision: false,
      // tfjs-core 4.22 has no float16 dtype, so every runtime, webgpu included, trains in float32.
      mixedPrecisionUnavailableReason: `the tfjs backend on ${runtime.name} trains in float32 only`,
      accelerator: runtime.accelerator,
    };
  }

  static async create(options: TfjsOptions, context: BackendContext): Promise<TfjsBackend> {
    const runtime = await selectRuntime(options.runtime, (message) => context.logger.info(message), options.device);
    return new TfjsBackend(runtime);
  }

  buildModel(description: ModelDescription): Promise<ModelHandle> {
    return TfjsModel.build(description);
  }

  async buildEncoder(encoder: TextEncoderDescription): Promise<EncoderHandle> {
    if (encoder.type === 'universal_sentence_encoder') {
      const model = await UniversalSentenceEncoder.load(encoder.modelDirectory);
      return {
        outputSize: UniversalSentenceEncoder.outputSize,
        encode: async (ids, attentionMask, rows, sequenceLength) => {
          const embeddings = await model.embed(ids, attentionMask, rows, sequenceLength);
          const values = (await embeddings.data()) as Float32Array;
          embeddings.dispose();
          return values;
        },
        dispose: () => model.dispose(),
      };
    }

    const bert = BertEncoder.create(encoder.architecture, encoder.weights, { trainable: false, seed: 0 });
    return {
      outputSize: encoder.architecture.hidden_size,
      encode: async (ids, attentionMask, rows, sequenceLength) => {
        const pooled = tf.tidy(() => {
          const idsTensor = tf.tensor2d(ids, [rows, sequenceLength], 'int32');
          const maskTensor = tf.tensor2d(attentionMask, [rows, sequenceLength], 'int32');
          return bert.apply(idsTensor, maskTensor, { training: false, reduceOutput: encoder.reduceOutput }).pooled;
        });
        const values = (await pooled.data()) as Float32Array;
        pooled.dispose();
        return values;
      },
      dispose: () => bert.dispose(),
    };
  }

  async dispose(): Promise<void> {
    // Models and encoders free their own tensors; the tfjs runtime stays registered for the process.
  }
}
