/** A one-line progress bar on stderr; on a pipe it prints a line per tenth instead of redrawing. */
export interface Progress {
  update(done: number): void;
  finish(note?: string): void;
}

const WIDTH = 30;

export function progress(label: string, total: number, unit = ''): Progress {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let lastTenth = -1;
  const line = (done: number) => {
    const share = total > 0 ? Math.min(done / total, 1) : 1;
    const filled = Math.round(share * WIDTH);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    return `${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(Math.floor(share * 100)).padStart(3)}%  ${done}/${total}${unit}  ${seconds}s`;
  };
  return {
    update(done) {
      if (tty) {
        process.stderr.write(`\r${line(done)}`);
        return;
      }
      const tenth = Math.floor((done / Math.max(total, 1)) * 10);
      if (tenth !== lastTenth && done < total) {
        lastTenth = tenth;
        process.stderr.write(`${line(done)}\n`);
      }
    },
    finish(note = '') {
      process.stderr.write(`${tty ? '\r' : ''}${line(total)}${note ? `  ${note}` : ''}\n`);
    },
  };
}

/** A bar that fills with elapsed time, for fixed-duration runs; on a pipe, just the line at the end. */
export function timedProgress(label: string, seconds: number): { stop(note?: string): void } {
  const bar = progress(label, seconds, 's');
  const started = Date.now();
  const tick = () => bar.update(Math.min(Math.floor((Date.now() - started) / 1000), seconds));
  const timer = setInterval(() => process.stderr.isTTY && tick(), 500);
  timer.unref();
  return {
    stop(note) {
      clearInterval(timer);
      bar.finish(note);
    },
  };
}
