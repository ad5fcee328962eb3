/**
 * When a failed attempt is tried again: after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 14 h and 24 h (with the
 * default WEBHOOK_RETRY_BASE_MS of 5 s), each stretched or shrunk by up to 10% at random so that deliveries failed
 * together do not all come back together. Ten attempts in all over about 2.7 days (65 h 35 min without
 * jitter), then the delivery is `failed`. The steps are multiples of the base, so a smaller base (tests) keeps
 * the shape.
 */
export const RETRY_STEPS = [1, 60, 360, 1_440, 3_600, 7_200, 7_200, 10_080, 17_280] as const;

/** Attempts a delivery gets: the first and one per retry step. */
export const MAX_ATTEMPTS = RETRY_STEPS.length + 1;

/** The delay before the attempt after `attempts` failed ones, in ms; undefined when none is left. */
export function retryDelayMs(attempts: number, baseMs: number, random: () => number = Math.random): number | undefined {
  const step = RETRY_STEPS[attempts - 1];
  if (step === undefined || attempts < 1) return undefined;
  return Math.round(step * baseMs * (0.9 + 0.2 * random()));
}
