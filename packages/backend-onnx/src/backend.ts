import os from 'node:os';

import type { Backend, BackendCapabilities, BackendContext, EncoderHandle, ModelDescription, ModelHandle, TextEncoderDescription } from '@ft/core';
import { UnsupportedError } from '@ft/core';
import * as ort from 'onnxruntime-node';

import { FrozenBertEncoder } from './encoders/bert-encoder.js';
import { OnnxModel } from './model/onnx-model.js';
import type { OnnxOptions } from './options.js';
import { probeHalfPrecision, selectDevice, type Device } from './runtime/device.js';
import type { SessionSettings } from './runtime/session.js';

/** ONNX Runtime on one execution provider, with the thread and optimization settings of the config. */
export class OnnxBackend implements Backend {
  readonly name = 'onnx';
  readonly description: string;
  readonly capabilities: BackendCapabilities;

  private constructor(
    readonly device: Device,
    readonly settings: SessionSettings,
    halfPrecisionFailure: string | null,
  ) {
    this.description = `ONNX Runtime ${ort.env.versions.node ?? ort.env.versions.common} on ${device} (${settings.intraOpNumThreads} thread${settings.intraOpNumThreads === 1 ? '' : 's'})`;
    this.capabilities = {
      encoders: { bert: { trainable: true } },
      mixedPrecision: halfPrecisionFailure === null,
      ...(halfPrecisionFailure === null ? {} : { mixedPrecisionUnavailableReason: halfPrecisionFailure }),
      // ONNX Runtime does not name the WebGPU adapter, so a software one (lavapipe) counts as a GPU here.
      accelerator: device !== 'cpu',
    };
  }

  static async create(options: OnnxOptions, context: BackendContext): Promise<OnnxBackend> {
    const device = await selectDevice(options.device, context.logger);
    const threads = options.intra_op_threads ?? os.availableParallelism();

    // ONNX Runtime's CPU provider runs float16 nodes by converting to float32 and back, which
    // saves no time (bench/mixed-precision.mjs), so mixed precision is offered on GPUs only.
    let halfPrecisionFailure: string | null = `the ONNX backend on the CPU trains in float32, because ONNX Runtime's CPU provider computes float16 ops by converting them to float32`;
    if (device !== 'cpu') {
      // NOTE: tested on WebGPU (Mesa's lavapipe) only, because no CUDA provider is installed here.
      const failure = await probeHalfPrecision(device);
      halfPrecisionFailure = failure === null ? null : `the ONNX backend cannot compute in float16 on ${device} (${failure})`;
    }
    return new OnnxBackend(device, { executionProviders: [device], intraOpNumThreads: threads, graphOptimizationLevel: options.graph_optimization_level }, halfPrecisionFailure);
  }

  buildModel(description: ModelDescription): Promise<ModelHandle> {
    return OnnxModel.build(description, this.settings);
  }

  async buildEncoder(encoder: TextEncoderDescription): Promise<EncoderHandle> {
    if (encoder.type !== 'bert') {
      throw new UnsupportedError(`The ONNX backend cannot run the ${encoder.type} encoder. Set backend.type to tfjs to compute its embeddings.`);
    }
    const bert = await FrozenBertEncoder.create(encoder.architecture, encoder.weights, encoder.reduceOutput, this.settings, 0);
    return {
      outputSize: bert.outputSize,
      encode: (ids, attentionMask, rows, sequenceLength) => bert.encode(ids, attentionMask, rows, sequenceLength),
      dispose: () => bert.dispose(),
    };
  }

  async dispose(): Promise<void> {
    // Models and encoders release their own sessions.
  }
}
