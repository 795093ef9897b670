type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Merges a default sub-section (an encoder, decoder, loss or preprocessing block) under a
 * feature's own. The feature wins key by key. A feature block whose `type` differs from the
 * default's replaces the default whole, because settings of one encoder type rarely mean
 * anything for another.
 */
export function mergeSection(defaults: unknown, own: unknown): unknown {
  if (own === undefined) {
    return structuredClone(defaults);
  }
  if (!isPlainObject(defaults) || !isPlainObject(own)) {
    return own;
  }
  if (own.type !== undefined && defaults.type !== undefined && own.type !== defaults.type) {
    return own;
  }

  const merged: PlainObject = structuredClone(defaults);
  for (const [key, value] of Object.entries(own)) {
    merged[key] = isPlainObject(value) && isPlainObject(merged[key]) ? mergeSection(merged[key], value) : value;
  }
  return merged;
}

const INPUT_SECTIONS = ['encoder', 'preprocessing'] as const;
const OUTPUT_SECTIONS = ['decoder', 'loss', 'preprocessing'] as const;

/**
 * Returns a copy of a raw config with `defaults.<type>` merged into every feature of that type:
 * inputs take `encoder` and `preprocessing`, outputs take `decoder`, `loss` and `preprocessing`.
 * Malformed parts are left as they are for the schema to report.
 */
export function mergeFeatureDefaults(raw: unknown): unknown {
  if (!isPlainObject(raw) || !isPlainObject(raw.defaults)) {
    return raw;
  }
  const defaults = raw.defaults;
  const merged: PlainObject = { ...raw };

  const mergeList = (features: unknown, sections: readonly string[]): unknown => {
    if (!Array.isArray(features)) {
      return features;
    }
    return features.map((feature) => {
      if (!isPlainObject(feature) || typeof feature.type !== 'string') {
        return feature;
      }
      const typeDefaults = defaults[feature.type];
      if (!isPlainObject(typeDefaults)) {
        return feature;
      }
      const result: PlainObject = { ...feature };
      for (const section of sections) {
        if (typeDefaults[section] !== undefined) {
          result[section] = mergeSection(typeDefaults[section], feature[section]);
        }
      }
      return result;
    });
  };

  merged.input_features = mergeList(raw.input_features, INPUT_SECTIONS);
  merged.output_features = mergeList(raw.output_features, OUTPUT_SECTIONS);
  return merged;
}
