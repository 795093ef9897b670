/** Severity of a log record, from most to least verbose. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * The one logger core writes through. Core never calls `console`; the CLI passes a logger
 * that prints above its progress bar, tests pass a silent or recording one.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Creates a logger that writes `level: message` lines to a stream, skipping records below `level`. */
export function createStreamLogger(stream: NodeJS.WritableStream, level: LogLevel = 'info'): Logger {
  const threshold = LEVEL_ORDER[level];
  const write = (recordLevel: LogLevel, message: string): void => {
    if (LEVEL_ORDER[recordLevel] < threshold) {
      return;
    }
    const prefix = recordLevel === 'info' ? '' : `${recordLevel}: `;
    stream.write(`${prefix}${message}\n`);
  };
  return {
    debug: (message) => write('debug', message),
    info: (message) => write('info', message),
    warn: (message) => write('warn', message),
    error: (message) => write('error', message),
  };
}

/** A logger that drops every record. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** A logger that keeps records in memory, for tests that check what a run reported. */
export interface RecordingLogger extends Logger {
  readonly records: { level: LogLevel; message: string }[];
}

export function createRecordingLogger(): RecordingLogger {
  const records: { level: LogLevel; message: string }[] = [];
  return {
    records,
    debug: (message) => records.push({ level: 'debug', message }),
    info: (message) => records.push({ level: 'info', message }),
    warn: (message) => records.push({ level: 'warn', message }),
    error: (message) => records.push({ level: 'error', message }),
  };
}
