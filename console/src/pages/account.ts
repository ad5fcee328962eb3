import { errorMessage } from '../api.js';
import { errorBox, field, h, replace, section, table, type Child } from '../dom.js';
import { count, dateTime, fieldLabel, personName, titleCase } from '../format.js';
import { loadAccount, type Account } from '../account/account-data.js';
import { grantCreditsDialog, setPlanAvailable, setPlanDialog } from '../account/actions.js';
import { balanceChart, balanceSeries, loadUsage, RANGES, usageChart } from '../account/charts.js';
import { holdsAndGrants } from '../account/holds.js';
import { freshLedgerState, ledgerSection, type LedgerState } from '../account/ledger.js';
import { accountWebhooks } from './events.js';
import { auditResult, runAudit } from './audit.js';

/** What the page keeps while the operator stays on one account: the chart's range and the ledger's filter and page. */
interface PageState {
  key: string;
  rangeIndex: number;
  ledger: LedgerState;
}

let state: PageState | undefined;

const stat = (label: string, value: number, hint: string) =>
  h('div', { class: 'stat' }, h('dt', {}, label), h('dd', {}, h('span', { class: 'value', 'data-stat': label.toLowerCase() }, count(value)), h('span', { class: 'hint' }, hint)));

function describeValue(value: unknown): Child {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (typeof value === 'number') return count(value);
  if (typeof value === 'string') return /^\d{4}-\d{2}-\d{2}T/.test(value) ? dateTime(value) : /^[A-Z_]+$/.test(value) ? titleCase(value) : value;
  if (typeof value === 'object') {
    return h(
      'dl',
      { class: 'inline' },
      Object.entries(value as Record<string, unknown>)
        .filter(([key]) => key !== '__typename')
        .map(([key, inner]) => [h('dt', {}, fieldLabel(key)), h('dd', {}, describeValue(inner))]),
    );
  }
  return String(value);
}

function planSection(account: Account, reload: () => void): HTMLElement {
  const rows: [string, Child][] = [['Plan', account.planTier]];
  for (const [name, value] of Object.entries(account.plan)) rows.push([fieldLabel(name), describeValue(value)]);
  if (account.stripeCustomerId) rows.push(['Stripe customer', h('code', {}, account.stripeCustomerId)]);
  return section(
    'Plan and subscription',
    h('dl', { class: 'facts' }, rows.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)])),
    setPlanAvailable()
      ? h('button', { type: 'button', class: 'secondary', 'data-action': 'set-plan', onclick: () => void setPlanDialog(account, reload) }, 'Change plan')
      : null,
  );
}

function chartsSection(account: Account, pageState: PageState): HTMLElement[] {
  const balanceBody = h('div', { 'aria-busy': 'true' });
  const usageBody = h('div', { 'aria-busy': 'true' });
  const range = h(
    'select',
    { name: 'range' },
    RANGES.map((option, index) => h('option', { value: index, selected: index === pageState.rangeIndex }, option.label)),
  );
  const draw = async () => {
    const chosen = RANGES[pageState.rangeIndex]!;
    const now = new Date();
    const from = new Date(now.getTime() - chosen.days * 86_400_000);
    replace(balanceBody, h('p', { class: 'hint' }, 'Drawing the balance…'));
    replace(usageBody, h('p', { class: 'hint' }, 'Adding up usage…'));
    balanceBody.setAttribute('aria-busy', 'true');
    usageBody.setAttribute('aria-busy', 'true');
    const [series, usage] = await Promise.allSettled([balanceSeries(account, from, now), loadUsage(account, from, now, chosen.window)]);
    replace(balanceBody, series.status === 'fulfilled' ? balanceChart(series.value.points, { sampled: series.value.sampled, from, now, width: balanceBody.clientWidth }) : errorBox(errorMessage(series.reason)));
    replace(usageBody, usage.status === 'fulfilled' ? usageChart(usage.value, chosen.window, usageBody.clientWidth) : errorBox(errorMessage(usage.reason)));
    balanceBody.setAttribute('aria-busy', 'false');
    usageBody.setAttribute('aria-busy', 'false');
  };
  range.addEventListener('change', () => {
    pageState.rangeIndex = Number(range.value);
    void draw();
  });
  void draw();
  return [
    section('Balance over time', h('div', { class: 'range' }, field('Range', range)), balanceBody),
    section('Usage by feature', h('p', { class: 'hint' }, 'Completed consumption in the same range, captures included.'), usageBody),
  ];
}

function membersSection(account: Account): HTMLElement {
  const members = account.members ?? [];
  return section(
    'Members',
    table(
      'Members',
      ['Member', 'Role', 'Monthly limit', 'Spent this month', 'Held'],
      members.map((member) => [
        h('a', { href: `/console/users/${member.user.id}` }, personName(member.user)),
        titleCase(member.role),
        member.monthlySpendLimit === null ? 'No limit' : count(member.monthlySpendLimit),
        count(member.spentThisMonth),
        count(member.heldCredits),
      ]),
      { empty: 'No members.' },
    ),
    account.membersTruncated ? h('p', { class: 'hint' }, 'The first 100 members are shown.') : null,
  );
}

function auditButton(account: Account): HTMLElement {
  const output = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'secondary', 'data-action': 'audit-account' }, 'Audit this account');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      replace(output, auditResult(await runAudit(account.kind === 'user' ? { userId: account.id } : { organizationId: account.id })));
    } catch (error) {
      replace(output, errorBox(errorMessage(error)));
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'account-audit' }, button, output);
}

export async function renderAccount(main: HTMLElement, kind: Account['kind'], id: string, focusAfter?: string): Promise<void> {
  const key = `${kind}:${id}`;
  if (state?.key !== key) state = { key, rangeIndex: 1, ledger: freshLedgerState() };
  const pageState = state;
  // A reload after an action keeps the page in place until the new one is drawn, and says it is busy meanwhile.
  if (focusAfter) main.setAttribute('aria-busy', 'true');
  else replace(main, h('p', { class: 'hint' }, 'Loading the account…'));
  let account: Account | null;
  try {
    account = await loadAccount(kind, id);
  } catch (error) {
    main.removeAttribute('aria-busy');
    document.title = 'Account · Tally console';
    replace(main, h('h1', {}, kind === 'user' ? 'User' : 'Organization'), errorBox(errorMessage(error)));
    return;
  }
  main.removeAttribute('aria-busy');
  if (!account) {
    document.title = 'Not found · Tally console';
    replace(main, h('h1', {}, `No ${kind} ${id}`), h('p', {}, `There is no ${kind} with the id `, h('code', {}, id), '. ', h('a', { href: '/console/' }, 'Search again'), '.'));
    return;
  }
  const current = account;
  const reload = (focusKey: string) => () => void renderAccount(main, kind, id, focusKey);
  document.title = `${current.name} · Tally console`;
  const { holds, grants } = holdsAndGrants(current, reload('holds'));
  const subtitle: Child[] = [h('code', {}, current.id)];
  if (current.email) subtitle.push(' · ', current.email);
  if (current.company) subtitle.push(' · ', current.company);
  subtitle.push(` · since ${dateTime(current.createdAt)}`);
  replace(
    main,
    h(
      'div',
      { class: 'account-head' },
      h('div', {}, h('p', { class: 'kind' }, kind === 'user' ? 'User' : 'Organization'), h('h1', {}, current.name), h('p', { class: 'subtitle' }, subtitle)),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', 'data-action': 'grant', onclick: () => grantCreditsDialog(current, reload('grant')) }, 'Grant credits'),
      ),
    ),
    h(
      'dl',
      { class: 'stats', 'aria-label': 'Credits' },
      stat('Balance', current.creditBalance, 'the sum of completed rows'),
      stat('Held', current.heldCredits, 'by open reservations'),
      stat('Spendable', current.spendableCredits, 'balance less held'),
      stat('Expiring', current.expiringCredits, 'from grants with an expiry'),
    ),
    current.organizations && current.organizations.length > 0
      ? h('p', { class: 'orgs' }, 'Member of ', current.organizations.map((org, index) => [index > 0 ? ', ' : '', h('a', { href: `/console/organizations/${org.id}` }, org.name)]))
      : null,
    auditButton(current),
    h('div', { class: 'grid' }, planSection(current, reload('set-plan')), kind === 'organization' ? membersSection(current) : null),
    ...chartsSection(current, pageState),
    section('Open holds', holds),
    section('Expiring grants', grants),
    section('Ledger', ledgerSection(current, pageState.ledger, reload('ledger'))),
    accountWebhooks(current),
  );
  if (focusAfter) {
    const target = main.querySelector<HTMLElement>(`[data-action="${focusAfter}"]`) ?? main.querySelector<HTMLElement>('h1');
    target?.setAttribute('tabindex', target.tabIndex >= 0 ? String(target.tabIndex) : '-1');
    target?.focus();
  }
}
