// A progress bar on stderr with rate and ETA; log lines print above it without breaking it.
export class ProgressBar {
  private readonly t0 = performance.now();
  private readonly start: number;
  private done_ = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly total: number,
    private readonly unit: string,
    already = 0,
  ) {
    this.start = already;
    this.done_ = already;
    this.render();
  }

  tick(n = 1): void {
    this.done_ += n;
    this.render();
  }

  set(n: number): void {
    this.done_ = n;
    this.render();
  }

  log(line: string): void {
    if (this.tty) process.stderr.write("\r\x1b[2K");
    console.log(line);
    if (this.tty) this.render();
  }

  done(): void {
    if (this.tty) process.stderr.write(`\r\x1b[2K${this.line()}\n`);
  }

  /** "[#####.....] 5/10 update 0.42 update/s ETA 12s" */
  line(): string {
    const width = 24;
    const frac = this.total > 0 ? Math.min(1, this.done_ / this.total) : 1;
    const filled = Math.round(frac * width);
    const seconds = (performance.now() - this.t0) / 1000;
    const rate = (this.done_ - this.start) / Math.max(seconds, 1e-9);
    const eta = rate > 0 ? (this.total - this.done_) / rate : NaN;
    return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${this.done_}/${this.total} ${this.unit} ` +
      `${rate.toFixed(rate < 1 ? 3 : 1)} ${this.unit}/s ETA ${formatSeconds(eta)}`;
  }

  private render(): void {
    if (this.tty) process.stderr.write(`\r\x1b[2K${this.line()}`);
    else if (this.done_ > this.start) process.stderr.write(`${this.line()}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
