/** Spellings read as true in a binary column, compared in lower case after trimming. */
export const TRUE_STRINGS: ReadonlySet<string> = new Set(['true', 't', 'yes', 'y', '1', '1.0', 'on']);

/** Spellings read as false in a binary column, compared in lower case after trimming. */
export const FALSE_STRINGS: ReadonlySet<string> = new Set(['false', 'f', 'no', 'n', '0', '0.0', 'off']);

/**
 * Reads a binary cell: with `fallbackTrueLabel` set, that exact value is true and any other is
 * false; otherwise one of the standard spellings. Returns undefined for a value that is neither.
 */
export function readBoolean(value: string, fallbackTrueLabel: string | null): boolean | undefined {
  if (fallbackTrueLabel !== null) {
    return value.trim() === fallbackTrueLabel;
  }
  const normalized = value.trim().toLowerCase();
  if (TRUE_STRINGS.has(normalized)) {
    return true;
  }
  if (FALSE_STRINGS.has(normalized)) {
    return false;
  }
  return undefined;
}
