// Ctrl-C, handled once for every training command. A terminal's Ctrl-C reaches the whole process
// group, and `bun run <script>` forwards its own SIGINT to the script as well, so one keypress
// arrives as two signals within milliseconds. The first asks the loop to finish the current update,
// save and stop; signals in the next FORWARD_WINDOW_MS are the same keypress and are ignored; a
// deliberate second Ctrl-C after that exits at once with 130 (128 + SIGINT).

/** Signals this soon after the first are taken as the same Ctrl-C. */
export const FORWARD_WINDOW_MS = 1000;

export class Interrupt {
  private firstAt: number | null = null;
  private readonly handler = () => this.onSignal();

  constructor(private readonly what: string) {}

  /** True once a SIGINT has asked the run to stop. */
  get requested(): boolean {
    return this.firstAt !== null;
  }

  install(): this {
    process.on("SIGINT", this.handler);
    return this;
  }

  dispose(): void {
    process.off("SIGINT", this.handler);
  }

  private onSignal(): void {
    const now = performance.now();
    if (this.firstAt === null) {
      this.firstAt = now;
      console.error(`\nSIGINT: finishing this update, then ${this.what} (Ctrl-C again after a second to abort)`);
    } else if (now - this.firstAt >= FORWARD_WINDOW_MS) {
      console.error("\nSIGINT again: exiting without saving");
      process.exit(130);
    }
  }
}
