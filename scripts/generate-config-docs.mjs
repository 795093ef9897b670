#!/usr/bin/env node
// Writes schema/ft-config.schema.json and docs/config.md from the zod config schema of @ft/core,
// with the built-in backends' options in the `backend` section. It imports the packages' built
// dist/ folders, so run it as `npm run docs:config`, which builds them first.
// packages/core/test/config-docs.test.ts fails when the committed files differ from its output.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { CONFIG_DOCS_FILE, CONFIG_SCHEMA_FILE, generateConfigDocs, loadBackendDescriptor } from '@ft/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const tfjs = await loadBackendDescriptor('tfjs', root);
const onnx = await loadBackendDescriptor('onnx', root);
const docs = generateConfigDocs({ tfjs: tfjs.optionsSchema, onnx: onnx.optionsSchema });

for (const [file, text] of [
  [CONFIG_SCHEMA_FILE, docs.schemaJson],
  [CONFIG_DOCS_FILE, docs.markdown],
]) {
  const target = path.join(root, file);
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, text);
  process.stdout.write(`Wrote ${file}\n`);
}
