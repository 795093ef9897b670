/**
 * Stable codes for errors caused by user input. The CLI prints these without a stack trace
 * and exits with {@link EXIT_CODES}; any other error is an internal bug and keeps its stack.
 */
export type FtErrorCode =
  | 'CONFIG_INVALID'
  | 'DATA_INVALID'
  | 'FILE_NOT_FOUND'
  | 'BACKEND_NOT_INSTALLED'
  | 'BACKEND_INVALID'
  | 'UNSUPPORTED'
  | 'CHECKPOINT_INVALID'
  | 'WORKER_FAILED'
  | 'INTERRUPTED';

/** Process exit codes of the `ft` command, one per error family. */
export const EXIT_CODES = {
  success: 0,
  internalError: 1,
  configInvalid: 2,
  dataInvalid: 3,
  backendUnavailable: 4,
  interrupted: 130,
} as const;

/** Base class of every error that a user can fix by changing a config, a file or an install. */
export class FtError extends Error {
  readonly code: FtErrorCode;

  constructor(code: FtErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FtError';
    this.code = code;
  }

  /** Exit code the CLI uses for this error. */
  get exitCode(): number {
    switch (this.code) {
      case 'CONFIG_INVALID':
      case 'UNSUPPORTED':
        return EXIT_CODES.configInvalid;
      case 'DATA_INVALID':
      case 'FILE_NOT_FOUND':
      case 'CHECKPOINT_INVALID':
        return EXIT_CODES.dataInvalid;
      case 'BACKEND_NOT_INSTALLED':
      case 'BACKEND_INVALID':
        return EXIT_CODES.backendUnavailable;
      case 'INTERRUPTED':
        return EXIT_CODES.interrupted;
      case 'WORKER_FAILED':
        return EXIT_CODES.internalError;
    }
  }
}

/** One problem found in a config, kept structured so callers can render it their own way. */
export interface ConfigIssue {
  /** Key path, for example `['trainer', 'learning_rate_scheduler', 'decay']`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** The value found at `path`, when there was one. */
  readonly received?: unknown;
}

/** Formats a key path the way users write it: `input_features[0].encoder.type`. */
export function formatKeyPath(path: readonly (string | number)[]): string {
  if (path.length === 0) {
    return '(config root)';
  }
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') {
      text += `[${key}]`;
    } else {
      text += text === '' ? key : `.${key}`;
    }
  }
  return text;
}

/** Raised when a config fails validation; lists every issue found, one per line. */
export class ConfigError extends FtError {
  readonly issues: readonly ConfigIssue[];
  readonly source: string | undefined;

  constructor(issues: readonly ConfigIssue[], source?: string) {
    const header = source === undefined ? 'Invalid config:' : `Invalid config in ${source}:`;
    const lines = issues.map((issue) => `  ${formatKeyPath(issue.path)}: ${issue.message}`);
    super('CONFIG_INVALID', [header, ...lines].join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
    this.source = source;
  }
}

/** Raised for unreadable, empty or inconsistent data files; the message names the file and row. */
export class DataError extends FtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATA_INVALID', message, options);
    this.name = 'DataError';
  }
}

/** Raised when a backend package cannot be found, loaded, or does not implement the interface. */
export class BackendError extends FtError {
  constructor(code: 'BACKEND_NOT_INSTALLED' | 'BACKEND_INVALID', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'BackendError';
  }
}

/** Raised when a config requests something that the backend's capabilities exclude. */
export class UnsupportedError extends FtError {
  constructor(message: string) {
    super('UNSUPPORTED', message);
    this.name = 'UnsupportedError';
  }
}
