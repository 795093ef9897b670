export { createProgram, main } from './main.js';
export { renderSummary } from './summary.js';
export { TerminalProgress } from './progress.js';
