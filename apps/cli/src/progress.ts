import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Logger, LogLevel, StepEvent, TrainingCallbacks, TrainingPlan, EvaluationEvent, StopReason } from '@ft/core';
import pc from 'picocolors';

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) {
    return '--:--';
  }
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  const pad = (value: number): string => String(value).padStart(2, '0');
  return hours > 0 ? `${hours}:${pad(minutes)}:${pad(rest)}` : `${pad(minutes)}:${pad(rest)}`;
}

/**
 * Terminal output of a run: log lines printed above live progress bars, one bar for embedding
 * passes and one for training steps with epoch, loss, learning rate, throughput and ETA.
 */
export class TerminalProgress implements TrainingCallbacks {
  private readonly bars: MultiBar;
  /** Without a terminal (CI logs, pipes) bars cannot redraw, so progress is logged as plain lines every few seconds. */
  private readonly interactive: boolean;
  private readonly quiet: boolean;
  private lastPlainLine = 0;
  private lastRender = 0;
  private trainingBar: SingleBar | null = null;
  private taskBar: { name: string; bar: SingleBar } | null = null;
  private plan: TrainingPlan | null = null;
  private started = 0;
  private rowsSeen = 0;
  private smoothedLoss = Number.NaN;

  constructor(
    private readonly level: LogLevel = 'info',
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    // Bars are progress output, so log levels above info hide them too.
    this.interactive = stream.isTTY === true && LEVEL_ORDER[level] <= LEVEL_ORDER.info;
    this.quiet = LEVEL_ORDER[level] > LEVEL_ORDER.info;
    this.bars = new MultiBar(
      {
        stream,
        clearOnComplete: false,
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
        noTTYOutput: false,
        format: (options, params, payload: Record<string, string>) => {
          const width = options.barsize ?? 30;
          const filled = Math.round(params.progress * width);
          const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
          return `${payload.label ?? ''} ${bar} ${params.value}/${params.total} ${payload.details ?? ''}`;
        },
      },
      Presets.shades_classic,
    );
  }

  /** Creates a logger that prints above the bars, so log lines never tear a bar apart. */
  logger(level: LogLevel): Logger {
    const threshold = LEVEL_ORDER[level];
    const write = (recordLevel: LogLevel, message: string): void => {
      if (LEVEL_ORDER[recordLevel] < threshold) {
        return;
      }
      let prefix = '';
      if (recordLevel === 'warn') {
        prefix = pc.yellow('warning: ');
      } else if (recordLevel === 'error') {
        prefix = pc.red('error: ');
      }
      const line = `${prefix}${message}\n`;
      if (this.interactive && (this.trainingBar !== null || this.taskBar !== null)) {
        this.bars.log(line);
        this.render(true);
      } else {
        this.stream.write(line);
      }
    };
    return {
      debug: (message) => write('debug', message),
      info: (message) => write('info', message),
      warn: (message) => write('warn', message),
      error: (message) => write('error', message),
    };
  }

  onProgress = (task: string, done: number, total: number): void => {
    if (!this.interactive) {
      this.plainLine(`${task}: ${done}/${total}`, done >= total);
      return;
    }
    if (this.taskBar === null || this.taskBar.name !== task) {
      this.finishTask();
      this.taskBar = { name: task, bar: this.bars.create(total, 0, { label: task, details: '' }) };
    }
    this.taskBar.bar.update(done, { label: task, details: '' });
    this.render(false);
    if (done >= total) {
      this.finishTask();
    }
  };

  private finishTask(): void {
    if (this.taskBar !== null) {
      this.taskBar.bar.stop();
      this.bars.remove(this.taskBar.bar);
      this.taskBar = null;
    }
  }

  onTrainStart(plan: TrainingPlan): void {
    this.finishTask();
    this.plan = plan;
    this.started = performance.now();
    if (!this.interactive) {
      return;
    }
    this.trainingBar = this.bars.create(plan.totalSteps, 0, { label: `Epoch 1/${plan.epochs}`, details: '' });
  }

  onStep(event: StepEvent): void {
    if (this.plan === null) {
      return;
    }
    this.rowsSeen += event.rows;
    this.smoothedLoss = Number.isNaN(this.smoothedLoss) ? event.loss : 0.9 * this.smoothedLoss + 0.1 * event.loss;
    const elapsed = (performance.now() - this.started) / 1000;
    const throughput = this.rowsSeen / Math.max(elapsed, 1e-9);
    const eta = (elapsed / event.step) * (event.totalSteps - event.step);
    const details = `steps | loss ${this.smoothedLoss.toFixed(4)} | lr ${event.learningRate.toExponential(2)} | ${throughput.toFixed(1)} rows/s | ETA ${formatDuration(eta)}`;
    const label = `Epoch ${event.epoch + 1}/${this.plan.epochs}`;
    if (this.trainingBar === null) {
      this.plainLine(`${label} step ${event.step}/${event.totalSteps} | ${details.replace(/^steps \| /, '')}`, event.step === event.totalSteps);
      return;
    }
    this.trainingBar.update(event.step, { label, details });
    this.render(false);
  }

  /**
   * Redraws the bars. cli-progress redraws on a timer, which never fires while a training step
   * keeps the event loop busy, so redraws are also forced from here, at most five per second.
   */
  private render(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.lastRender < 200) {
      return;
    }
    this.lastRender = now;
    this.bars.update();
  }

  /** Prints one progress line, at most every 10 seconds unless `force` is set. */
  private plainLine(text: string, force: boolean): void {
    if (this.quiet) {
      return;
    }
    const now = performance.now();
    if (!force && now - this.lastPlainLine < 10_000) {
      return;
    }
    this.lastPlainLine = now;
    this.stream.write(`${text}\n`);
  }

  onEvaluation(event: EvaluationEvent): void {
    const parts: string[] = [];
    for (const split of ['training', 'validation', 'test'] as const) {
      if (split === 'training' && event.metrics.validation !== undefined) {
        continue;
      }
      const metrics = event.metrics[split];
      if (metrics === undefined) {
        continue;
      }
      const summary = Object.entries(metrics)
        .filter(([feature]) => feature !== 'combined')
        .map(([feature, values]) => {
          const name = ['accuracy', 'mean_squared_error', 'loss'].find((metric) => values[metric] !== undefined) ?? 'loss';
          return `${feature} ${name} ${values[name]?.toFixed(4)}`;
        })
        .join(', ');
      parts.push(`${split}: loss ${metrics.combined?.loss?.toFixed(4)}, ${summary}`);
    }
    const marker = event.improved ? pc.green(' (best so far)') : '';
    this.logger(this.level).info(`Epoch ${event.epoch + 1}: ${parts.join('; ')}${marker}`);
  }

  onTrainEnd(_reason: StopReason): void {
    this.stop();
  }

  /** Stops every bar; safe to call more than once. */
  stop(): void {
    this.finishTask();
    if (this.trainingBar !== null) {
      this.trainingBar.stop();
      this.trainingBar = null;
    }
    if (this.interactive) {
      this.bars.stop();
    }
  }
}
