import { describe, expect, it } from '@jest/globals';
import { cuid2, isPrefixedId, prefixedId } from '../../src/core/ids.js';

describe('ids', () => {
  it('makes CUID2s: 24 characters, a letter first, base 36', () => {
    for (let i = 0; i < 1_000; i++) expect(cuid2()).toMatch(/^[a-z][0-9a-z]{23}$/);
  });

  it('does not repeat over 100,000 ids', () => {
    const ids = new Set(Array.from({ length: 100_000 }, () => cuid2()));
    expect(ids.size).toBe(100_000);
  });

  it('prefixes ids by type and recognises their shape', () => {
    const id = prefixedId('ctx');
    expect(id).toMatch(/^ctx_[a-z][0-9a-z]{23}$/);
    expect(isPrefixedId('ctx', id)).toBe(true);
    expect(isPrefixedId('usr', id)).toBe(false);
    expect(isPrefixedId('ctx', 'ctx_')).toBe(false);
    expect(isPrefixedId('ctx', 'ctx_UPPER')).toBe(false);
  });
});
