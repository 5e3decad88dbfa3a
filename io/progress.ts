// Progress for long work: a bar with ETA on a TTY, plain lines otherwise (logs, CI); and
// informational lines. The global --quiet (cli/main.ts) silences both, here and only here:
// errors and warnings are written elsewhere and still print.

let quiet = false;
/** --quiet: no progress bars or lines, no informational lines (set by cli/main.ts run) */
export function setQuiet(on: boolean): void {
  quiet = on;
}
export function isQuiet(): boolean {
  return quiet;
}
/** an informational line on stderr (what was written, how long a case took), unless --quiet */
export function info(line: string): void {
  if (!quiet) console.error(line);
}

export class Progress {
  private readonly start = Date.now();
  private lastPrint = 0;
  private readonly tty: boolean;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY);
  }
  update(done: number): void {
    if (quiet) return;
    const now = Date.now();
    const final = done >= this.total;
    if (!final && now - this.lastPrint < (this.tty ? 100 : 5000)) return;
    this.lastPrint = now;
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? elapsed * (1 / frac - 1) : NaN;
    const pct = (frac * 100).toFixed(1).padStart(5);
    const tail = `${done}/${this.total} ${pct}% ${fmtSeconds(elapsed)} elapsed, ETA ${final ? '0s' : fmtSeconds(eta)}`;
    if (this.tty) {
      const width = 30;
      const fill = Math.round(frac * width);
      this.stream.write(`\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${tail}\x1b[K${final ? '\n' : ''}`);
    } else {
      this.stream.write(`${this.label}: ${tail}\n`);
    }
  }
}

/** a progress callback for work whose step count is known at its first step */
export function stepsProgress(label: string): (done: number, total: number) => void {
  let bar: Progress | undefined;
  return (done, total) => {
    bar ??= new Progress(label, total);
    bar.update(done);
  };
}

export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Math.round(s - 60 * m)}s`;
}

/**
 * Progress of a run made of named steps of known relative cost (weights, e.g. measured seconds):
 * on a TTY one line, redrawn every second, with the current step's name, the share done and an
 * ETA that is the remaining weight at the pace measured so far (steady: it counts down within a
 * step instead of jumping at each step's end); otherwise a plain line as each step starts.
 */
export class StepProgress {
  private readonly start = Date.now();
  private doneWeight = 0;
  private stepStart = Date.now();
  private current = '';
  private currentWeight = 0;
  private readonly total: number;
  private timer?: NodeJS.Timeout;
  private lastDraw = 0;
  private readonly tty: boolean;
  constructor(
    private readonly label: string,
    private readonly weights: Record<string, number>,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.total = Object.values(weights).reduce((a, b) => a + b, 0);
    this.tty = Boolean(stream.isTTY) && !quiet;
  }
  /** seconds per unit of weight: measured on the finished steps, the weights' own scale before any */
  private pace(): number {
    const spent = (this.stepStart - this.start) / 1000;
    return this.doneWeight > 0 && spent > 0 ? spent / this.doneWeight : 1;
  }
  eta(): number {
    const inStep = (Date.now() - this.stepStart) / 1000;
    const left = (this.total - this.doneWeight - this.currentWeight) * this.pace() + Math.max(0, this.currentWeight * this.pace() - inStep);
    return Math.max(0, left);
  }
  private draw(final = false): void {
    if (quiet) return;
    this.lastDraw = Date.now();
    const elapsed = (Date.now() - this.start) / 1000;
    const frac = this.total ? Math.min(1, (this.doneWeight + Math.min(this.currentWeight, ((Date.now() - this.stepStart) / 1000) / this.pace())) / this.total) : 1;
    const tail = `${(100 * frac).toFixed(0).padStart(3)}% ${fmtSeconds(elapsed)} elapsed, ETA ${final ? '0s' : fmtSeconds(this.eta())}`;
    if (this.tty) this.stream.write(`\r${this.label}: ${final ? 'done' : this.current} — ${tail}\x1b[K${final ? '\n' : ''}`);
    else this.stream.write(`${this.label}: ${final ? 'done' : this.current} (${tail})\n`);
  }
  /** work inside a step that blocks the event loop calls this now and then: a TTY line is redrawn once a second */
  poke(): void {
    if (this.tty && Date.now() - this.lastDraw >= 1000) this.draw();
  }
  /** a step starts (the previous one, if any, is done) */
  step(name: string): void {
    const now = Date.now();
    if (this.current) this.doneWeight += this.currentWeight;
    this.stepStart = now;
    this.current = name;
    this.currentWeight = this.weights[name] ?? 0;
    this.draw();
    if (this.tty && !this.timer) {
      this.timer = setInterval(() => this.draw(), 1000);
      this.timer.unref();
    }
  }
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.current) this.doneWeight += this.currentWeight;
    this.current = '';
    this.draw(true);
  }
}
