import type { z } from 'zod';

import { configJsonSchema, type JsonSchema } from './json-schema.js';

/** Paths of the generated files, relative to the repository root. */
export const CONFIG_SCHEMA_FILE = 'schema/ft-config.schema.json';
export const CONFIG_DOCS_FILE = 'docs/config.md';

/** The text of both generated files. */
export interface ConfigDocs {
  /** The JSON Schema, for `schema/ft-config.schema.json`. */
  readonly schemaJson: string;
  /** The config reference, for `docs/config.md`. */
  readonly markdown: string;
}

/**
 * Generates the JSON Schema file and the Markdown config reference from the zod schema.
 * `backendOptionSchemas` is passed on to {@link configJsonSchema}; the committed files use the
 * tfjs backend's options.
 */
export function generateConfigDocs(backendOptionSchemas: Readonly<Record<string, z.ZodType>> = {}): ConfigDocs {
  const schema = configJsonSchema(backendOptionSchemas);
  return { schemaJson: `${JSON.stringify(schema, null, 2)}\n`, markdown: configReferenceMarkdown(schema) };
}

interface Row {
  readonly path: string;
  readonly property: JsonSchema;
  readonly required: boolean;
}

/** One table of the reference: the keys of one object, under a heading. */
interface Table {
  readonly heading: string;
  readonly level: number;
  readonly description: string | undefined;
  readonly rows: Row[];
}

/** An object schema found inside a property, with the key path and branch label it is documented under. */
interface ObjectSchema {
  readonly schema: JsonSchema;
  readonly path: string;
  readonly label: string | undefined;
}

/** `defaults.<type>.<section>` blocks take the keys of a feature block, which is documented once, under the features. */
const DEFAULTS_BLOCK = /^defaults\.[^.]+\.[^.]+$/;

function branchesOf(node: JsonSchema): JsonSchema[] {
  return [...(node.anyOf ?? []), ...(node.oneOf ?? [])];
}

/** Returns the non-union schemas that `node` allows, flattening nested `anyOf` and `oneOf`. */
function alternatives(node: JsonSchema): JsonSchema[] {
  const branches = branchesOf(node);
  return branches.length === 0 ? [node] : branches.flatMap(alternatives);
}

function branchLabel(branch: JsonSchema): string | undefined {
  const type = branch.properties?.type?.const;
  if (typeof type === 'string') {
    return `with \`type: ${type}\``;
  }
  return branch.title;
}

/** Finds the object schemas inside `property`: itself, its list items, or its union branches. */
function objectSchemas(property: JsonSchema, path: string, label: string | undefined = undefined): ObjectSchema[] {
  if (property.properties !== undefined) {
    return [{ schema: property, path, label }];
  }
  const branches = branchesOf(property);
  if (branches.length > 0) {
    return branches.flatMap((branch) => objectSchemas(branch, path, branchLabel(branch) ?? label));
  }
  if (property.items !== undefined && !Array.isArray(property.items)) {
    return objectSchemas(property.items, `${path}[]`, label);
  }
  return [];
}

function collectTables(object: ObjectSchema, level: number, tables: Table[]): void {
  const table: Table = {
    heading: `\`${object.path}\`${object.label === undefined ? '' : object.label.startsWith('with ') ? ` ${object.label}` : `: ${object.label}`}`,
    level,
    description: object.schema.description,
    rows: [],
  };
  tables.push(table);

  const required = object.schema.required ?? [];
  for (const [key, property] of Object.entries(object.schema.properties ?? {})) {
    const path = `${object.path}.${key}`;
    table.rows.push({ path, property, required: required.includes(key) });
    if (!DEFAULTS_BLOCK.test(path)) {
      for (const child of objectSchemas(property, path)) {
        collectTables(child, Math.min(level + 1, 6), tables);
      }
    }
  }
}

/** Renders a config value the way YAML flow style writes it. */
function formatValue(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(formatValue).join(', ')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value)
      .map(([key, item]) => `${key}: ${formatValue(item)}`)
      .join(', ')}}`;
  }
  return value === '' ? '""' : String(value);
}

function joinAlternatives(parts: readonly string[]): string {
  const unique = parts.filter((part, index) => part !== '' && parts.indexOf(part) === index);
  return unique.length <= 1 ? (unique[0] ?? '') : `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

function typeName(node: JsonSchema): string {
  if (node.const !== undefined) {
    return `\`${formatValue(node.const)}\``;
  }
  if (node.properties !== undefined || node.type === 'object') {
    return 'mapping';
  }
  if (node.type === 'array') {
    if (Array.isArray(node.items)) {
      const itemTypes = joinAlternatives(node.items.map((item) => typeName(item)));
      return `list of ${node.items.length} ${itemTypes}s`;
    }
    return node.items === undefined ? 'list' : `list of ${joinAlternatives(alternatives(node.items).map(typeName))}s`;
  }
  if (Array.isArray(node.type)) {
    return joinAlternatives(node.type as string[]);
  }
  return typeof node.type === 'string' ? node.type : 'any';
}

function typeText(property: JsonSchema): string {
  return joinAlternatives(alternatives(property).map(typeName));
}

/** Renders numeric bounds: `> 0`, `≥ 0`, or an interval such as `[0, 1)`. */
function rangeText(node: JsonSchema): string {
  const low = typeof node.exclusiveMinimum === 'number' ? { value: node.exclusiveMinimum, open: true } : typeof node.minimum === 'number' ? { value: node.minimum, open: false } : undefined;
  const high = typeof node.exclusiveMaximum === 'number' ? { value: node.exclusiveMaximum, open: true } : typeof node.maximum === 'number' ? { value: node.maximum, open: false } : undefined;
  if (low !== undefined && high !== undefined) {
    return `${low.open ? '(' : '['}${low.value}, ${high.value}${high.open ? ')' : ']'}`;
  }
  if (low !== undefined) {
    return `${low.open ? '>' : '≥'} ${low.value}`;
  }
  if (high !== undefined) {
    return `${high.open ? '<' : '≤'} ${high.value}`;
  }
  return '';
}

function allowedFor(node: JsonSchema): string {
  const parts: string[] = [];
  if (node.enum !== undefined) {
    parts.push(node.enum.map((value) => `\`${formatValue(value)}\``).join(', '));
  }
  const range = rangeText(node);
  if (range !== '') {
    parts.push(range);
  }
  if (typeof node.minLength === 'number' && node.minLength > 0) {
    parts.push('non-empty');
  }
  const excluded = (node.not as JsonSchema | undefined)?.enum;
  if (excluded !== undefined) {
    parts.push(`not ${excluded.map((value) => `\`${formatValue(value)}\``).join(', ')}`);
  }
  if (node.type === 'array') {
    if (Array.isArray(node.items)) {
      const itemRanges = joinAlternatives(node.items.map(allowedFor));
      if (itemRanges !== '') {
        parts.push(`each ${itemRanges}`);
      }
    } else {
      if (typeof node.minItems === 'number' && node.minItems > 0) {
        parts.push(`at least ${node.minItems} item${node.minItems === 1 ? '' : 's'}`);
      }
      const items = node.items === undefined ? [] : alternatives(node.items);
      const types = items.map((item) => item.properties?.type?.const).filter((type) => type !== undefined);
      if (types.length > 0) {
        parts.push(`item \`type\`: ${types.map((type) => `\`${formatValue(type)}\``).join(', ')}`);
      }
    }
  }
  if (typeof node.additionalProperties === 'object') {
    const values = allowedFor(node.additionalProperties);
    if (values !== '') {
      parts.push(`values ${values}`);
    }
  }
  return parts.join('; ');
}

function allowedText(property: JsonSchema): string {
  const options = alternatives(property);
  const types = options.map((option) => option.properties?.type?.const).filter((type) => type !== undefined);
  if (types.length > 0) {
    const others = types.length < options.length ? ' or another (see below)' : '';
    return `\`type\`: ${types.map((type) => `\`${formatValue(type)}\``).join(', ')}${others}`;
  }
  return joinAlternatives(options.map((option) => (option.const !== undefined ? '' : allowedFor(option))));
}

function defaultText(row: Row): string {
  const value = row.property.default;
  if (row.required) {
    return '**required**';
  }
  if (value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0)) {
    return '';
  }
  return `\`${formatValue(value)}\``;
}

/** Escapes text for a Markdown table cell: pipes split cells, and `<UNK>` would read as an HTML tag. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('\n', ' ');
}

function renderTable(rows: readonly Row[]): string[] {
  return [
    '| Key | Type | Default | Allowed | Description |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| \`${row.path}\` | ${cell(typeText(row.property))} | ${defaultText(row)} | ${cell(allowedText(row.property))} | ${cell(row.property.description ?? '')} |`),
  ];
}

/**
 * Renders the config reference: one section per top-level key, with a table per object (every
 * key with its type, default, allowed values and description). Union branches, such as each
 * encoder type, get their own table under a heading that names the branch.
 */
export function configReferenceMarkdown(schema: JsonSchema): string {
  const sections = Object.entries(schema.properties ?? {});
  const required = schema.required ?? [];
  const lines = [
    '# Config reference',
    '',
    '<!-- Generated from the zod config schema by `npm run docs:config`; edit the schema, not this file. -->',
    '',
    `Every key of an \`ft\` config, generated from the schema that \`ft train\` validates configs with. Keys marked **required** must be set; every other key may be left out, and then takes its default. \`[]\` in a key path stands for every item of a list. A key listed under several \`type\` headings exists only for those types.`,
    '',
    `For completion and checking in an editor, point yaml-language-server (the YAML extension of VS Code and others) at the JSON Schema in [\`schema/ft-config.schema.json\`](../${'schema/ft-config.schema.json'}) with a first line such as \`# yaml-language-server: $schema=../../schema/ft-config.schema.json\`, or print the schema with \`ft schema\`. \`ft render-config --config config.yaml\` shows a config with every default filled in.`,
    '',
    `Sections: ${sections.map(([key]) => `[\`${key}\`](#${key})`).join(', ')}.`,
  ];

  for (const [key, property] of sections) {
    lines.push('', `## ${key}`, '');
    if (property.description !== undefined) {
      lines.push(cell(property.description), '');
    }
    lines.push(...renderTable([{ path: key, property, required: required.includes(key) }]));

    const tables: Table[] = [];
    for (const object of objectSchemas(property, key)) {
      collectTables(object, 3, tables);
    }
    for (const table of tables) {
      lines.push('', `${'#'.repeat(table.level)} ${table.heading}`, '');
      if (table.description !== undefined && table.description !== property.description) {
        lines.push(cell(table.description), '');
      }
      lines.push(...renderTable(table.rows));
    }
  }
  return `${lines.join('\n')}\n`;
}
