import { describe, expect, it } from '@jest/globals';
import { pgTimestamp, pgTimestampIso } from '../../src/core/date-time.js';
import { DateTimeScalar } from '../../src/core/date-time.js';

/** PostgreSQL's text output of a timestamptz in a UTC session: microseconds, trailing zeros of the fraction trimmed. */
function pgText(epochMicros: bigint): string {
  const date = new Date(Number(epochMicros / 1000n));
  const micros = String(epochMicros % 1_000_000n).padStart(6, '0').replace(/0+$/, '');
  const [day, time] = date.toISOString().slice(0, 19).split('T');
  return `${day} ${time}${micros ? `.${micros}` : ''}+00`;
}

/** A small seeded PRNG, so a failure names the instants it saw. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 2 ** 32;
  };
}

describe('timestamps read from PostgreSQL as text', () => {
  it('serialize to the ISO-8601 a Date would give, without building one (2,000 instants, every fraction length)', () => {
    const next = random(20261125);
    const from = BigInt(Date.UTC(1970, 0, 1)) * 1000n;
    const span = BigInt(Date.UTC(2100, 0, 1)) * 1000n - from;
    for (let i = 0; i < 2000; i++) {
      const micros = from + (BigInt(Math.floor(next() * 2 ** 30)) * BigInt(Math.floor(next() * 2 ** 30))) % span;
      // Every length of fraction PostgreSQL prints: none, 1..6 digits.
      const rounded = micros - (micros % 10n ** BigInt(i % 7));
      const text = pgText(rounded);
      const expected = new Date(Number(rounded / 1000n)).toISOString();
      expect([text, pgTimestampIso(text)]).toEqual([text, expected]);
      expect(pgTimestamp(text).toISOString()).toBe(expected);
      expect(DateTimeScalar.serialize(text)).toBe(expected);
    }
  });

  it('leaves other forms to the Date path', () => {
    expect(pgTimestampIso('2026-11-24 09:30:00.5+05:30')).toBeUndefined();
    expect(DateTimeScalar.serialize('2026-11-24 09:30:00.5+05:30')).toBe('2026-11-24T04:00:00.500Z');
    expect(pgTimestampIso('2026-11-24T09:30:00Z')).toBeUndefined();
    expect(DateTimeScalar.serialize(new Date('2026-11-24T09:30:00.123Z'))).toBe('2026-11-24T09:30:00.123Z');
    expect(() => DateTimeScalar.serialize('not a date')).toThrow('invalid date');
  });
});
