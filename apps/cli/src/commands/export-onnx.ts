import path from 'node:path';

import { BackendError, loadBackendDescriptor } from '@ft/core';

/** Runs `ft export onnx`: writes the run's model as a plain ONNX model and prints its inputs and outputs. */
export async function exportOnnxCommand(runDirectory: string, options: { output?: string }): Promise<void> {
  // Loading through core's backend loader keeps the ONNX Runtime package optional for the CLI's other commands.
  await loadBackendDescriptor('onnx');
  const { exportOnnxModel } = (await import('@ft/backend-onnx')) as typeof import('@ft/backend-onnx');
  if (typeof exportOnnxModel !== 'function') {
    throw new BackendError('BACKEND_INVALID', 'The installed @ft/backend-onnx has no exportOnnxModel; update it to the version of @ft/cli.');
  }

  const output = path.resolve(options.output ?? path.join(runDirectory, 'onnx'));
  const summary = await exportOnnxModel(path.resolve(runDirectory), output);

  process.stdout.write(`Wrote ${summary.modelPath}\n\nInputs:\n`);
  for (const input of summary.inputs) {
    process.stdout.write(`  ${input.name} (${input.dtype}): ${input.description}\n`);
  }
  process.stdout.write('Outputs:\n');
  for (const outputSpec of summary.outputs) {
    const labels = outputSpec.labels === undefined ? '' : ` [${outputSpec.labels.join(', ')}]`;
    process.stdout.write(`  ${outputSpec.name}: ${outputSpec.description}${labels}\n`);
  }
}
