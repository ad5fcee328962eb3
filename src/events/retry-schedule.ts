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

/** The longest an endpoint's Retry-After can push a retry back: the schedule's longest step at the default base. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * An endpoint's `Retry-After` (RFC 9110: delay-seconds, or an HTTP-date), in ms from `now`; undefined when absent or
 * unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  // An HTTP-date names its weekday and GMT; a bare number or anything else Date.parse might accept is not one.
  if (!/^[A-Za-z]{3},? .*GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The delay before the next attempt, after an attempt that failed: the schedule's, or what the endpoint asked for
 * with `Retry-After` (on a 429 or 503) when that is longer, up to MAX_RETRY_AFTER_MS. An endpoint can slow its
 * retries down but not hurry them, and it gets no more attempts than the schedule's.
 */
export function nextDelayMs(scheduledMs: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs === undefined) return scheduledMs;
  return Math.max(scheduledMs, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}

/** The delay before the attempt after `attempts` failed ones, in ms; undefined when none is left. */
export function retryDelayMs(attempts: number, baseMs: number, random: () => number = Math.random): number | undefined {
  const step = RETRY_STEPS[attempts - 1];
  if (step === undefined || attempts < 1) return undefined;
  return Math.round(step * baseMs * (0.9 + 0.2 * random()));
}
