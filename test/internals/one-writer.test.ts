import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';

/**
 * Internal by design: reads the source to prove the claim of src/credits/posting/postings.ts, that the posting core
 * is the only code that changes an account's credits (or their held and expiring parts, or a member's monthly spend)
 * and the only code that writes ledger, grant, allocation and reservation rows.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const POSTING_CORE = 'src/credits/posting/';

const WRITES_LEDGER_TABLE = /\b(insert\s+into|update|delete\s+from)\s+"?(credit_transactions|credit_grants|credit_allocations|reservations)"?\b/gi;
/** An account's credits, or a member's monthly spend (what their limit is checked against). */
const MOVES_A_BALANCE = /\bupdate\s+"?(accounts|organization_members)"?\b[^`;]*?\b(credit_balance|held_credits|expiring_credits|open_reservations|spent_credits)\s*=/gi;
/** Writes through the ORM's unit of work or its native helpers would bypass the statements entirely. */
const ORM_WRITE = /\.(persist|persistAndFlush|flush|nativeInsert|nativeUpdate|nativeDelete|insertMany)\s*\(/g;

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => (entry.isDirectory() ? sourceFiles(`${dir}/${entry.name}`) : Promise.resolve(entry.name.endsWith('.ts') ? [`${dir}/${entry.name}`] : []))),
  );
  return nested.flat();
}

const matches = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => m[0].replace(/\s+/g, ' '));

describe('one writer of balances and ledger rows (internal)', () => {
  it('no module outside the posting core has SQL that writes those tables or columns, or writes through the ORM', async () => {
    const offenders: string[] = [];
    for (const file of [...(await sourceFiles('src')), ...(await sourceFiles('seeders'))]) {
      if (file.startsWith(POSTING_CORE)) continue;
      const text = await readFile(path.join(ROOT, file), 'utf8');
      for (const found of [...matches(text, WRITES_LEDGER_TABLE), ...matches(text, MOVES_A_BALANCE), ...matches(text, ORM_WRITE)]) {
        offenders.push(`${file}: ${found}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('finds those statements in the posting core (the patterns above do match real SQL)', async () => {
    const found = new Set<string>();
    for (const file of await sourceFiles('src/credits/posting')) {
      const text = await readFile(path.join(ROOT, file), 'utf8');
      for (const write of [...matches(text, WRITES_LEDGER_TABLE), ...matches(text, MOVES_A_BALANCE)]) found.add(write.toLowerCase().split(' ').slice(0, 3).join(' '));
    }
    expect([...found]).toEqual(
      expect.arrayContaining([
        'insert into credit_transactions',
        'update credit_transactions',
        'update credit_grants',
        'insert into credit_allocations',
        'insert into credit_grants',
        'insert into reservations',
        'update reservations',
        'update accounts set',
        'update organization_members m',
      ]),
    );
  });
});
