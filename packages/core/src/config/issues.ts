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

function renderUnknownKey(schema: ZodSchema, data: unknown, path: readonly PropertyKey[], key: string): ConfigIssue {
  const keyPath = [...path, key].map(String);
  const dotted = keyPath.join('.').replace(/\.\d+(?=\.|$)/g, '');
  const received = valueAt(data, [...path, key]);
  const movedTo = MOVED_KEYS[dotted];
  if (movedTo !== undefined) {
    return { path: [...(path as (string | number)[]), key], received, message: `this key moved to \`${movedTo}\`; move it there.` };
  }

  const allowed = keysAt(schema, path, data);
  const suggestion = closestKey(key, allowed);
  const hint = suggestion !== undefined ? ` Did you mean \`${suggestion}\`?` : allowed.length > 0 ? ` Allowed keys: ${allowed.join(', ')}.` : '';
  return { path: [...(path as (string | number)[]), key], received, message: `unknown key.${hint}` };
}

function renderIssue(schema: ZodSchema, data: unknown, issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = issue.path as (string | number)[];
  const received = valueAt(data, path);
  const got = `got ${describeValue(received)}`;

  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => renderUnknownKey(schema, data, path, key));
    case 'invalid_type': {
      if (received === undefined) {
        return [{ path, message: `required key is missing; expected ${issue.expected}.` }];
      }
      return [{ path, received, message: `expected ${issue.expected}, ${got} (${typeName(received)}).` }];
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
        const suggestion = typeof typeValue === 'string' ? closestKey(typeValue, options) : undefined;
        const hint = suggestion !== undefined ? ` Did you mean "${suggestion}"?` : '';
        return [
          {
            path: typePath,
            received: typeValue,
            message: `got ${describeValue(typeValue)}; allowed: ${options.map((option) => `"${option}"`).join(', ')}.${hint}`,
          },
        ];
      }
      return [{ path, received, message: `${got}; ${issue.message}.` }];
    }
    case 'too_small':
    case 'too_big': {
      return [{ path, received, message: `${issue.message.replace(/^Too (small|big): /, '')}, ${got}.` }];
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
