import { z } from 'zod';

import { backendPackageName } from '../backend/load-backend.js';
import { FEATURE_TYPES } from './features.js';
import { configSchema } from './schema.js';

/** One node of a JSON Schema document, as plain JSON. */
export interface JsonSchema {
  $schema?: string;
  $comment?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema | JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  [keyword: string]: unknown;
}

/**
 * The JSON Schema dialect of the output. yaml-language-server (the YAML support of VS Code and
 * most editors) validates draft-07 fully; its draft 2019-09 and 2020-12 support was reverted.
 */
export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';

/** Converts one zod schema the way the whole config is converted: draft-07, input types (defaults optional). */
function toJsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-07', io: 'input' }) as JsonSchema;
  return dropSafeIntegerBounds(rest) as JsonSchema;
}

/**
 * Removes the ±Number.MAX_SAFE_INTEGER bounds that zod writes on every `z.int()`, because they
 * tell a user nothing and clutter editor hovers and the generated docs.
 */
function dropSafeIntegerBounds(node: unknown): unknown {
  if (Array.isArray(node)) {
    return node.map(dropSafeIntegerBounds);
  }
  if (typeof node !== 'object' || node === null) {
    return node;
  }
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    const isSafeBound = (key === 'maximum' && value === Number.MAX_SAFE_INTEGER) || (key === 'minimum' && value === Number.MIN_SAFE_INTEGER);
    if (!isSafeBound) {
      result[key] = dropSafeIntegerBounds(value);
    }
  }
  return result;
}

/** Keywords written first in every node, so the generated file reads like documentation. */
const LEADING_KEYWORDS = ['$schema', '$comment', 'title', 'description', 'type', 'const', 'enum', 'default'];

/** Returns a copy of `node` with {@link LEADING_KEYWORDS} first, at every depth; property names keep their order. */
function orderKeywords(node: unknown, isPropertyMap = false): unknown {
  if (Array.isArray(node)) {
    return node.map((item) => orderKeywords(item));
  }
  if (typeof node !== 'object' || node === null) {
    return node;
  }
  const entries = Object.entries(node);
  if (!isPropertyMap) {
    const rank = (key: string): number => {
      const index = LEADING_KEYWORDS.indexOf(key);
      return index === -1 ? LEADING_KEYWORDS.length : index;
    };
    entries.sort(([a], [b]) => rank(a) - rank(b));
  }
  return Object.fromEntries(
    entries.map(([key, value]) => {
      // Values of these keywords are config data, not schemas, so they stay as written.
      if (!isPropertyMap && ['default', 'const', 'enum', 'examples'].includes(key)) {
        return [key, value];
      }
      return [key, orderKeywords(value, !isPropertyMap && key === 'properties')];
    }),
  );
}

/** Returns the branch of a feature union whose `type` is the constant `type`. */
function featureBranch(list: JsonSchema | undefined, type: string): JsonSchema | undefined {
  const items = list?.items as JsonSchema | undefined;
  return items?.oneOf?.find((branch) => branch.properties?.type?.const === type);
}

/** Drops `type` from the required keys of an object schema and adds that to its description. */
function withOptionalType(branch: JsonSchema, defaultsPath: string): JsonSchema {
  const required = (branch.required ?? []).filter((key) => key !== 'type');
  const { required: _required, ...rest } = branch;
  const type = rest.properties?.type;
  if (type !== undefined) {
    const note = `Required unless ${defaultsPath} sets it.`;
    rest.properties = { ...rest.properties, type: { ...type, description: type.description === undefined ? note : `${type.description} ${note}` } };
  }
  return required.length > 0 ? { ...rest, required } : rest;
}

/**
 * Lets a feature's encoder or decoder block leave out `type`, because `defaults.<type>` may
 * supply it before validation. A union then becomes `anyOf`: with `type` optional an empty
 * block matches several branches, which `oneOf` would reject.
 */
function allowTypeFromDefaults(block: JsonSchema, defaultsPath: string): JsonSchema {
  if (block.oneOf !== undefined) {
    const { oneOf, ...rest } = block;
    return { ...rest, anyOf: oneOf.map((branch) => withOptionalType(branch, defaultsPath)) };
  }
  return withOptionalType(block, defaultsPath);
}

/** Makes every key of a block optional, at every depth, for use as a `defaults` block. */
function partial(node: unknown): unknown {
  if (Array.isArray(node)) {
    return node.map(partial);
  }
  if (typeof node !== 'object' || node === null) {
    return node;
  }
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'required') {
      continue;
    }
    result[key === 'oneOf' ? 'anyOf' : key] = partial(value);
  }
  return result;
}

type FeatureSection = 'encoder' | 'decoder' | 'loss' | 'preprocessing';

/** Feature list and role that each `defaults.<type>` block is merged into. */
const DEFAULT_TARGETS: Record<FeatureSection, { list: 'input_features' | 'output_features'; role: string }> = {
  encoder: { list: 'input_features', role: 'input' },
  decoder: { list: 'output_features', role: 'output' },
  loss: { list: 'output_features', role: 'output' },
  preprocessing: { list: 'input_features', role: 'feature' },
};

/**
 * Replaces the free-form `defaults.<type>.<section>` mappings of the zod schema with the keys
 * of the matching feature block, all optional, so editors complete and check them. zod itself
 * checks these blocks only after merging them into the features.
 */
function typeDefaults(root: JsonSchema): void {
  const features = root.properties!;
  const defaults = features.defaults!.properties!;
  for (const type of FEATURE_TYPES) {
    const sections = defaults[type]!.properties!;
    for (const section of Object.keys(sections) as FeatureSection[]) {
      const target = DEFAULT_TARGETS[section];
      const branch = featureBranch(features[target.list], type) ?? (section === 'preprocessing' ? featureBranch(features.output_features, type) : undefined);
      const block = branch?.properties?.[section];
      if (block === undefined) {
        sections[section] = { ...sections[section], description: `Not used, because ${type} features can only be inputs.` };
        continue;
      }
      const { default: _default, description: _description, ...keys } = partial(block) as JsonSchema;
      sections[section] = {
        description: `Merged under the ${section} of every ${type} ${target.role}; takes the keys of ${target.list}[].${section}, and a feature's own keys win.`,
        ...keys,
      };
    }
  }
}

/**
 * Builds the `backend` section: core's `type` and `cache_dir`, plus each known backend's own
 * keys when `type` names it. Each backend is one `anyOf` branch that lists all of its keys with
 * `additionalProperties: false`, because yaml-language-server checks additionalProperties only
 * against the properties of the same schema object, so `if`/`then` could not reject a typo.
 */
function backendSection(core: JsonSchema, backendOptionSchemas: Readonly<Record<string, z.ZodType>>): JsonSchema {
  const known = Object.keys(backendOptionSchemas).sort();
  if (known.length === 0) {
    return core;
  }

  const { type: typeKey, ...sharedKeys } = core.properties!;
  const { default: defaultType, ...typeWithoutDefault } = typeKey!;
  const branches = known.map((name): JsonSchema => {
    const options = toJsonSchema(backendOptionSchemas[name]!);
    const typeSchema: JsonSchema = name === defaultType ? { ...typeKey, const: name } : { ...typeWithoutDefault, const: name };
    const branch: JsonSchema = {
      title: `${name} backend`,
      description: `Keys of the ${name} backend, package ${backendPackageName(name)}${name === defaultType ? ', the default' : ''}.`,
      type: 'object',
      properties: { type: typeSchema, ...sharedKeys, ...options.properties },
    };
    if (options.required !== undefined && options.required.length > 0) {
      branch.required = options.required;
    }
    if (options.additionalProperties !== undefined) {
      branch.additionalProperties = options.additionalProperties;
    }
    return branch;
  });

  // Without `type`, the section selects the default backend, so the catch-all branch requires
  // `type` unless the default backend has no branch of its own.
  const other: JsonSchema = {
    title: 'other backend',
    description: 'A backend package without a branch in this schema; that package checks its own keys when a run starts.',
    type: 'object',
    properties: { type: { ...typeWithoutDefault, not: { enum: known } }, ...sharedKeys },
  };
  if (typeof defaultType === 'string' && known.includes(defaultType)) {
    other.required = ['type'];
  }

  const { properties: _properties, additionalProperties: _additional, type: _type, ...annotations } = core;
  return { ...annotations, type: 'object', anyOf: [...branches, other] };
}

/**
 * Returns the JSON Schema (draft-07) of an `ft` config as written: keys with defaults are
 * optional, descriptions come from the zod schema's `.describe()`, and strict objects reject
 * unknown keys. `backendOptionSchemas` maps a `backend.type` to the zod schema of that backend's
 * own keys (a descriptor's `optionsSchema`); other backend types accept any keys.
 *
 * The schema checks single keys. Rules across keys (unique feature names, a bert encoder's
 * checkpoint folder, validation_metric against the output type) are checked by
 * `validateConfig` only.
 */
export function configJsonSchema(backendOptionSchemas: Readonly<Record<string, z.ZodType>> = {}): JsonSchema {
  const root = toJsonSchema(configSchema);
  const properties = root.properties!;

  // The defaults blocks copy the feature blocks, so they are built before those change.
  typeDefaults(root);
  for (const [list, section] of [
    ['input_features', 'encoder'],
    ['output_features', 'decoder'],
  ] as const) {
    for (const branch of (properties[list]!.items as JsonSchema).oneOf!) {
      const featureType = String(branch.properties!.type!.const);
      branch.properties![section] = allowTypeFromDefaults(branch.properties![section]!, `defaults.${featureType}.${section}`);
    }
  }
  properties.backend = backendSection(properties.backend!, backendOptionSchemas);

  return orderKeywords({
    ...root,
    $schema: JSON_SCHEMA_DIALECT,
    $comment: 'Generated from the zod config schema of @ft/core by configJsonSchema(); run `npm run docs:config` to update it.',
    title: 'ft config',
    description: 'A config of ft, the declarative fine-tuning tool: input and output features, training settings and the backend.',
  }) as JsonSchema;
}
