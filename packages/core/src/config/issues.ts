import type { z } from 'zod';

import type { ConfigIssue } from '../errors.js';

/** Keys that older configs (and Ludwig before 0.7) put elsewhere, with their current place. */
export const MOVED_KEYS: Record<string, string> = {
  'trainer.decay': 'trainer.learning_rate_scheduler.decay',
  'trainer.decay_rate': 'trainer.learning_rate_scheduler.decay_rate',
  'trainer.decay_steps': 'trainer.learning_rate_scheduler.decay_steps',
  'trainer.staircase': 'trainer.learning_rate_scheduler.staircase',
  'trainer.learning_rate_warmup_epochs': 'trainer.learning_rate_scheduler.warmup_evaluations',
  'trainer.warmup_fraction': 'trainer.learning_rate_scheduler.warmup_fraction',
  'trainer.reduce_learning_rate_on_plateau': 'trainer.learning_rate_scheduler.reduce_on_plateau',
  'trainer.optimizer_type': 'trainer.optimizer.type',
  'trainer.weight_decay': 'trainer.optimizer.weight_decay',
  training: 'trainer',
};

/** Ludwig keys that ft does not have, with what to do instead. */
export const UNSUPPORTED_KEYS: Record<string, string> = {
  model_type: 'ft trains encoder-combiner-decoder models (Ludwig\'s ecd) only; remove model_type.',
  hyperopt: 'ft has no hyperparameter search yet; remove hyperopt and run several configs instead.',
  ludwig_version: 'remove it; ft records its own version in the run folder.',
};

/** Levenshtein distance, used to suggest the closest valid key for a misspelt one. */
export function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      previous[j] = Math.min(previous[j]! + 1, previous[j - 1]! + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** Returns the candidate closest to `key`, or undefined when none is close enough to be a typo. */
export function closestKey(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

type ZodSchema = z.core.$ZodType;

function unwrap(schema: ZodSchema): ZodSchema {
  let current = schema;
  for (;;) {
    const def = current._zod.def as { type: string; innerType?: ZodSchema; in?: ZodSchema };
    if (def.innerType !== undefined && ['default', 'prefault', 'optional', 'nullable', 'catch', 'readonly', 'nonoptional'].includes(def.type)) {
      current = def.innerType;
    } else if (def.type === 'pipe' && def.in !== undefined) {
      current = def.in;
    } else {
      return current;
    }
  }
}

type SchemaDef = { type: string; shape?: Record<string, ZodSchema>; element?: ZodSchema; options?: ZodSchema[] };

/**
 * Walks `schema` along `path` and returns the schema found there. A discriminated union on the
 * way follows the branch that the data selects; one at the end is returned as it is.
 */
function schemaAt(schema: ZodSchema, path: readonly PropertyKey[], data: unknown): ZodSchema | undefined {
  let current = unwrap(schema);
  let value = data;
  for (const key of path) {
    const resolved = resolveUnion(current, value);
    if (resolved === undefined) {
      return undefined;
    }
    const def = resolved._zod.def as SchemaDef;
    if (def.type === 'object' && def.shape !== undefined && typeof key === 'string' && def.shape[key] !== undefined) {
      current = unwrap(def.shape[key]);
    } else if (def.type === 'array' && def.element !== undefined && typeof key === 'number') {
      current = unwrap(def.element);
    } else {
      return undefined;
    }
    value = typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return current;
}

function resolveUnion(schema: ZodSchema, value: unknown): ZodSchema | undefined {
  let current: ZodSchema | undefined = schema;
  while (current !== undefined) {
    const def = current._zod.def as SchemaDef;
    if (def.type !== 'union' || def.options === undefined) {
      return current;
    }
    const chosen = pickUnionOption(def.options, value);
    current = chosen === undefined ? undefined : unwrap(chosen);
  }
  return undefined;
}

/** Returns the keys that the object schema at `path` allows. */
function keysAt(schema: ZodSchema, path: readonly PropertyKey[], data: unknown): string[] {
  const found = schemaAt(schema, path, data);
  const resolved = found === undefined ? undefined : resolveUnion(found, valueAt(data, path));
  const shape = (resolved?._zod.def as SchemaDef | undefined)?.shape;
  return shape === undefined ? [] : Object.keys(shape);
}

function pickUnionOption(options: readonly ZodSchema[], value: unknown): ZodSchema | undefined {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  for (const option of options) {
    const shape = (unwrap(option)._zod.def as { shape?: Record<string, ZodSchema> }).shape;
    const typeSchema = shape?.type === undefined ? undefined : unwrap(shape.type);
    const literal = (typeSchema?._zod.def as { values?: unknown[] } | undefined)?.values;
    if (literal?.includes(type)) {
      return option;
    }
  }
  return options.find((option) => (unwrap(option)._zod.def as { type: string }).type === 'object' && type === undefined);
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) {
      return undefined;
    }
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Renders a value for a message: strings quoted, objects as compact JSON, long values cut. */
export function describeValue(value: unknown): string {
  if (value === undefined) {
    return 'nothing';
  }
  const text = typeof value === 'string' ? `"${value}"` : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function typeName(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'a list';
  }
  if (typeof value === 'object') {
    return 'a mapping';
  }
  return `a ${typeof value}`;
}

type ExpectedDef = {
  type: string;
  innerType?: ZodSchema;
  options?: ZodSchema[];
  values?: unknown[];
  entries?: Record<string, unknown>;
  shape?: Record<string, ZodSchema>;
  format?: string;
  checks?: { _zod: { def: { check: string; value?: unknown; inclusive?: boolean } } }[];
};

/** Describes the values a schema accepts, such as `an integer >0` or `"checkpoint"`, for union messages. */
function describeExpected(schema: ZodSchema): string[] {
  const def = schema._zod.def as ExpectedDef;
  switch (def.type) {
    case 'nullable':
      return [...describeExpected(def.innerType!), 'null'];
    case 'default':
    case 'prefault':
    case 'optional':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return describeExpected(def.innerType!);
    case 'union':
      return (def.options ?? []).flatMap(describeExpected);
    case 'literal':
      return (def.values ?? []).map((value) => describeValue(value));
    case 'enum':
      return Object.values(def.entries ?? {}).map((value) => describeValue(value));
    case 'number': {
      const bounds = (def.checks ?? []).flatMap(({ _zod: { def: check } }) => {
        if (check.check === 'greater_than') {
          return [`${check.inclusive ? '>=' : '>'}${String(check.value)}`];
        }
        if (check.check === 'less_than') {
          return [`${check.inclusive ? '<=' : '<'}${String(check.value)}`];
        }
        return [];
      });
      const noun = def.format?.includes('int') ? 'an integer' : 'a number';
      return [bounds.length === 0 ? noun : `${noun} ${bounds.join(' and ')}`];
    }
    case 'string':
      return ['a string'];
    case 'boolean':
      return ['true or false'];
    case 'null':
      return ['null'];
    case 'object':
      return [`a mapping with the keys ${Object.keys(def.shape ?? {}).join(', ')}`];
    case 'record':
      return ['a mapping'];
    case 'array':
    case 'tuple':
      return ['a list'];
    default:
      return [def.type];
  }
}

function joinWithOr(parts: readonly string[]): string {
  const unique = parts.filter((part, index) => parts.indexOf(part) === index);
  return unique.length <= 1 ? (unique[0] ?? '') : `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

/** `object` for mappings and `array` for lists, of a value or of the values a schema accepts; `scalar` otherwise. */
function valueShape(value: unknown): 'object' | 'array' | 'scalar' {
  if (Array.isArray(value)) {
    return 'array';
  }
  return typeof value === 'object' && value !== null ? 'object' : 'scalar';
}

function schemaShape(schema: ZodSchema): 'object' | 'array' | 'scalar' {
  const type = (unwrap(schema)._zod.def as { type: string }).type;
  if (type === 'object' || type === 'record') {
    return 'object';
  }
  return type === 'array' || type === 'tuple' ? 'array' : 'scalar';
}

/**
 * Renders a value that matched no option of a plain union (one without a `type` key to pick
 * the option). A mapping or list is reported with the problems of the one option of that
 * shape, such as a missing or misspelt key, because they are more precise than the union's.
 * Any other value gets the list of what the options accept.
 */
function renderUnionMismatch(schema: ZodSchema, data: unknown, issue: z.core.$ZodIssueInvalidUnion, received: unknown): ConfigIssue[] {
  const path = issue.path as (string | number)[];
  const union = schemaAt(schema, path, data);
  const options = (union?._zod.def as SchemaDef | undefined)?.options;
  if (union === undefined || options === undefined) {
    return [{ path, received, message: `got ${describeValue(received)}; ${issue.message}.` }];
  }

  const shape = valueShape(received);
  const sameShape = options.map((option, index) => ({ option, index })).filter(({ option }) => shape !== 'scalar' && schemaShape(option) === shape);
  const optionIssues = sameShape.length === 1 ? issue.errors[sameShape[0]!.index] : undefined;
  if (optionIssues !== undefined && optionIssues.length > 0) {
    return optionIssues.flatMap((inner) => renderIssue(schema, data, { ...inner, path: [...path, ...inner.path] } as z.core.$ZodIssue));
  }
  // The key's own schema, before unwrapping, also shows whether null is allowed.
  const declared = declaredSchemaAt(schema, path, data) ?? union;
  return [{ path, received, message: `got ${describeValue(received)}; expected ${joinWithOr(describeExpected(declared))}.` }];
}

/** Returns the schema declared for the last key of `path`, with its optional, nullable and default wrappers. */
function declaredSchemaAt(schema: ZodSchema, path: readonly PropertyKey[], data: unknown): ZodSchema | undefined {
  if (path.length === 0) {
    return undefined;
  }
  const parent = schemaAt(schema, path.slice(0, -1), data);
  const resolved = parent === undefined ? undefined : resolveUnion(parent, valueAt(data, path.slice(0, -1)));
  const def = resolved?._zod.def as SchemaDef | undefined;
  const key = path[path.length - 1]!;
  return typeof key === 'string' ? def?.shape?.[key] : def?.element;
}

function renderUnknownKey(schema: ZodSchema, data: unknown, path: readonly PropertyKey[], key: string): ConfigIssue {
  const keyPath = [...path, key].map(String);
  const dotted = keyPath.join('.').replace(/\.\d+(?=\.|$)/g, '');
  const received = valueAt(data, [...path, key]);
  const movedTo = MOVED_KEYS[dotted];
  if (movedTo !== undefined) {
    return { path: [...(path as (string | number)[]), key], received, message: `this key moved to \`${movedTo}\`; move it there.` };
  }
  const unsupported = UNSUPPORTED_KEYS[dotted];
  if (unsupported !== undefined) {
    return { path: [...(path as (string | number)[]), key], received, message: `unknown key: ${unsupported}` };
  }

  const allowed = keysAt(schema, path, data);
  const suggestion = closestKey(key, allowed);
  const hint = suggestion !== undefined ? ` Did you mean \`${suggestion}\`?` : allowed.length > 0 ? ` Allowed keys: ${allowed.join(', ')}.` : '';
  return { path: [...(path as (string | number)[]), key], received, message: `unknown key.${hint}` };
}

/** Returns a fix for a boolean or number written as a string, such as `"yes"` or `"3"`, else ''. */
function quotedValueHint(expected: string, received: unknown): string {
  if (typeof received !== 'string') {
    return '';
  }
  if (expected === 'boolean') {
    // YAML 1.2, which the config parser follows, reads only true and false as booleans.
    return ' Write true or false, without quotes.';
  }
  if ((expected === 'number' || expected === 'int') && received.trim() !== '' && Number.isFinite(Number(received))) {
    return ` Write ${received.trim()} without quotes.`;
  }
  return '';
}

/** YAML's names for zod's expected types, where they differ. */
const EXPECTED_NAMES: Record<string, string> = { object: 'mapping', array: 'list', int: 'integer' };

function renderIssue(schema: ZodSchema, data: unknown, issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = issue.path as (string | number)[];
  const received = valueAt(data, path);
  const got = `got ${describeValue(received)}`;

  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => renderUnknownKey(schema, data, path, key));
    case 'invalid_type': {
      const expected = EXPECTED_NAMES[issue.expected] ?? issue.expected;
      if (received === undefined) {
        return [{ path, message: `required key is missing; expected ${expected}.` }];
      }
      return [{ path, received, message: `expected ${expected}, ${got} (${typeName(received)}).${quotedValueHint(issue.expected, received)}` }];
    }
    case 'invalid_value': {
      const allowed = issue.values.map((value) => describeValue(value)).join(', ');
      return [{ path, received, message: `${got}; allowed: ${allowed}.` }];
    }
    case 'invalid_union': {
      const note = (issue as { note?: string }).note;
      if (note === 'No matching discriminator') {
        // zod reports the path of the discriminator key itself, for example `trainer.optimizer.type`.
        const discriminator = (issue as { discriminator?: string }).discriminator ?? 'type';
        const unionPath = path[path.length - 1] === discriminator ? path.slice(0, -1) : path;
        const options = unionTypes(schema, unionPath, data);
        const typePath = [...unionPath, discriminator];
        const typeValue = valueAt(data, typePath);
        const allowed = options.map((option) => `"${option}"`).join(', ');
        if (typeValue === undefined) {
          return [{ path: typePath, message: `required key is missing; set it to one of ${allowed}.` }];
        }
        const suggestion = typeof typeValue === 'string' ? closestKey(typeValue, options) : undefined;
        const hint = suggestion !== undefined ? ` Did you mean "${suggestion}"?` : '';
        return [
          {
            path: typePath,
            received: typeValue,
            message: `got ${describeValue(typeValue)}; allowed: ${allowed}.${hint}`,
          },
        ];
      }
      return renderUnionMismatch(schema, data, issue, received);
    }
    case 'too_small':
    case 'too_big': {
      const message = issue.message.replace(/^Too (small|big): /, '').replace(/^expected array\b/, 'expected list');
      return [{ path, received, message: `${message}, ${got}.` }];
    }
    default:
      return [{ path, received, message: received === undefined ? `${issue.message}.` : `${issue.message}, ${got}.` }];
  }
}

function unionTypes(schema: ZodSchema, path: readonly PropertyKey[], data: unknown): string[] {
  const found = schemaAt(schema, path, data);
  const options = (found?._zod.def as SchemaDef | undefined)?.options ?? [];
  return options.flatMap((option) => {
    const typeSchema = (unwrap(option)._zod.def as SchemaDef).shape?.type;
    return ((typeSchema === undefined ? undefined : unwrap(typeSchema)._zod.def) as { values?: string[] } | undefined)?.values ?? [];
  });
}

/**
 * Turns zod issues into config issues that name the key path, the value found and what is
 * allowed, sorted by path depth so that the outermost problem reads first.
 */
export function toConfigIssues(schema: ZodSchema, data: unknown, issues: readonly z.core.$ZodIssue[], pathPrefix: readonly (string | number)[] = []): ConfigIssue[] {
  const rendered = issues.flatMap((issue) => renderIssue(schema, data, issue));
  return rendered
    .map((issue) => ({ ...issue, path: [...pathPrefix, ...issue.path] }))
    .sort((a, b) => a.path.length - b.path.length);
}
