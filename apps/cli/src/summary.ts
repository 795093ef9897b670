import Table from 'cli-table3';
import type { SplitMetrics } from '@ft/core';

const SPLITS = ['training', 'validation', 'test'] as const;

function format(value: number | undefined): string {
  if (value === undefined) {
    return '';
  }
  return Number.isFinite(value) ? value.toFixed(4) : String(value);
}

/** Renders the final metrics as one table per output feature: metrics down, splits across. */
export function renderSummary(finalMetrics: Partial<Record<(typeof SPLITS)[number], SplitMetrics>>): string {
  const features = new Set<string>();
  for (const split of SPLITS) {
    Object.keys(finalMetrics[split] ?? {}).forEach((feature) => features.add(feature));
  }

  const tables: string[] = [];
  for (const feature of features) {
    const splits = SPLITS.filter((split) => finalMetrics[split]?.[feature] !== undefined);
    const metrics = new Set<string>();
    splits.forEach((split) => Object.keys(finalMetrics[split]![feature]!).forEach((metric) => metrics.add(metric)));

    const table = new Table({ head: [feature, ...splits], style: { head: [], border: [] } });
    for (const metric of metrics) {
      table.push([metric, ...splits.map((split) => format(finalMetrics[split]![feature]![metric]))]);
    }
    tables.push(table.toString());
  }
  return tables.join('\n');
}
