// What every command shares: running a command's body so that user errors print as one line.

/** Runs a command's body; user errors print as one line (no stack) and exit 1. */
export async function runCli(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const err = e as Error;
    console.error(`error: ${err.message}`);
    if (process.env.LATRO_DEBUG) console.error(err.stack);
    process.exit(1);
  }
}
