import { errorMessage, gql } from '../api.js';
import { errorBox, h, replace, section } from '../dom.js';
import { count } from '../format.js';
import { accountPath } from '../router.js';

export interface LedgerAudit {
  accountsChecked: number;
  usersChecked: number;
  driftedCount: number;
  driftedAccountIds: string[];
  ok: boolean;
}

const AUDIT = `query ConsoleAudit($userId: ID, $organizationId: ID) {
  auditLedger(userId: $userId, organizationId: $organizationId) { accountsChecked usersChecked driftedCount driftedAccountIds ok }
}`;

export async function runAudit(target: { userId?: string; organizationId?: string } = {}): Promise<LedgerAudit> {
  return (await gql<{ auditLedger: LedgerAudit }>(AUDIT, target)).auditLedger;
}

/** The audit's answer: clean, or the drifted accounts, each a link to its page. */
export function auditResult(audit: LedgerAudit): HTMLElement {
  const summary = `${count(audit.accountsChecked)} ${audit.accountsChecked === 1 ? 'account' : 'accounts'} checked (${count(audit.usersChecked)} personal)`;
  if (audit.ok) {
    return h('div', { class: 'audit ok', 'data-audit': 'ok' }, h('p', { class: 'verdict' }, 'Clean: every balance matches its ledger.'), h('p', {}, summary));
  }
  const listed = audit.driftedAccountIds.length;
  return h(
    'div',
    { class: 'audit drift', 'data-audit': 'drift' },
    h('p', { class: 'verdict' }, `Drift: ${count(audit.driftedCount)} ${audit.driftedCount === 1 ? 'account disagrees' : 'accounts disagree'} with their ledger rows.`),
    h('p', {}, summary, listed < audit.driftedCount ? `; the first ${count(listed)} are listed` : ''),
    h(
      'ul',
      { class: 'drifted' },
      audit.driftedAccountIds.map((id) => h('li', {}, h('a', { href: accountPath(id) }, id))),
    ),
  );
}

export function renderAudit(main: HTMLElement): void {
  document.title = 'Audit · Tally console';
  const output = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button' }, 'Run the audit');
  button.addEventListener('click', async () => {
    button.disabled = true;
    replace(output, h('p', { class: 'hint' }, 'Checking every account…'));
    try {
      replace(output, auditResult(await runAudit()));
    } catch (error) {
      replace(output, errorBox(errorMessage(error)));
    } finally {
      button.disabled = false;
    }
  });
  replace(
    main,
    h('h1', {}, 'Ledger audit'),
    section(
      'Every account',
      h(
        'p',
        {},
        'Recomputes each balance, running balance, held and expiring credits, and members’ monthly spend from the ledger rows, reservations and grants themselves. It only reads.',
      ),
      button,
      output,
    ),
  );
}
