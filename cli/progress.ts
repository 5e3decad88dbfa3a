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
