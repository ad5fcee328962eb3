/**
 * Everything the benchmark starts (the API process, the embedded cluster, the temp directory) registers how to undo
 * itself here. Undo runs newest first, once, whether the run finishes, fails or is interrupted with Ctrl-C.
 */
interface Step {
  name: string;
  undo: () => Promise<void> | void;
  /** For the 'exit' event, where nothing asynchronous can run any more. */
  undoSync?: () => void;
}

const steps: Step[] = [];
let running: Promise<void> | undefined;

export function onCleanup(name: string, undo: Step['undo'], undoSync?: Step['undoSync']): void {
  steps.push({ name, undo, undoSync });
}

export function cleanup(): Promise<void> {
  running ??= (async () => {
    while (steps.length > 0) {
      const step = steps.pop()!;
      try {
        await step.undo();
      } catch (error) {
        process.stderr.write(`bench: cleanup of ${step.name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  })();
  return running;
}

/** Ctrl-C and SIGTERM clean up, then exit; a second signal exits at once (the 'exit' hook still runs). */
export function installSignalHandlers(onInterrupt: () => void): void {
  let interrupted = false;
  const handle = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, cleaning up...\n`);
    onInterrupt();
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
  process.on('exit', () => {
    for (const step of steps.splice(0).reverse()) {
      try {
        step.undoSync?.();
      } catch {
        // Best effort: the process is exiting.
      }
    }
  });
}
