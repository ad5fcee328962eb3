import { readFileSync } from 'node:fs';

/** Resident memory of a process in MiB (VmRSS, Linux); undefined when it cannot be read. */
function rssMb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The peak resident memory of the API processes during one run, sampled every 200 ms (their VmHWM is the peak since
 * start, which cannot tell one run from the next). With several processes the peak is of their sum.
 */
export function watchRss(pids: number[]): { stop(): number | undefined } {
  if (pids.length === 0) return { stop: () => undefined };
  let peak: number | undefined;
  const sample = () => {
    const values = pids.map(rssMb);
    if (values.includes(undefined)) return;
    const total = values.reduce<number>((sum, mb) => sum + mb!, 0);
    peak = Math.max(peak ?? 0, total);
  };
  sample();
  const timer = setInterval(sample, 200);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
