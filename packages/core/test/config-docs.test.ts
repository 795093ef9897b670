import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { CONFIG_DOCS_FILE, CONFIG_SCHEMA_FILE, generateConfigDocs } from '../src/config/docs.js';
// The built-in backends' options schemas are read from their sources because @ft/core cannot
// depend on the backend packages (the dependency runs the other way), and their dist/ may not be
// built yet when this suite runs. Both files import only zod.
import { onnxOptionsSchema } from '../../backend-onnx/src/options.js';
import { tfjsOptionsSchema } from '../../backend-tfjs/src/options.js';

const ROOT = new URL('../../../', import.meta.url);
const STALE = 'is out of date with the config schema; run `npm run docs:config` and commit the result.';

async function committed(file: string): Promise<string> {
  return readFile(fileURLToPath(new URL(file, ROOT)), 'utf8');
}

describe('generated config docs', () => {
  const docs = generateConfigDocs({ tfjs: tfjsOptionsSchema, onnx: onnxOptionsSchema });

  it('schema file is current', async () => {
    expect(await committed(CONFIG_SCHEMA_FILE) === docs.schemaJson, `${CONFIG_SCHEMA_FILE} ${STALE}`).toBe(true);
  });

  it('reference is current', async () => {
    expect(await committed(CONFIG_DOCS_FILE) === docs.markdown, `${CONFIG_DOCS_FILE} ${STALE}`).toBe(true);
  });

  it('reference lists every section', () => {
    for (const section of ['input_features', 'output_features', 'defaults', 'combiner', 'trainer', 'preprocessing', 'backend', 'dataset']) {
      expect(docs.markdown).toContain(`\n## ${section}\n`);
    }
  });

  it('reference rows show default and range', () => {
    expect(docs.markdown).toContain("| `trainer.epochs` | integer | `100` | &gt; 0 | Passes over the training data. 100 is Ludwig's default; early_stop usually ends a run sooner. |");
    expect(docs.markdown).toContain('| `trainer.learning_rate` | number or `auto` | `auto` | (0, 1] |');
    expect(docs.markdown).toContain('| `input_features[].name` | string | **required** | non-empty |');
    expect(docs.markdown).toContain('| `backend.runtime` | string | `auto` | `auto`, `node`, `wasm`, `cpu` |');
  });
});
