import { errorMessage, gql } from '../api.js';
import { errorBox, field, h, replace, table, type Child } from '../dom.js';
import { count, dateTime, personName, signed, titleCase, type Person } from '../format.js';
import { ledgerField, rootField, type Account } from './account-data.js';
import { refundDialog } from './actions.js';

const TYPES = ['PURCHASE', 'CONSUMPTION', 'REFUND', 'GRANT', 'EXPIRATION', 'DISPUTE', 'DISPUTE_WON', 'PLAN_CHANGE'];
const STATUSES = ['COMPLETED', 'PENDING', 'FAILED'];
const PAGE_SIZE = 25;

interface LedgerRow {
  id: string;
  type: string;
  status: string;
  amount: number;
  balanceAfter: number;
  description: string;
  feature: string | null;
  createdAt: string;
  effectiveAt: string | null;
  stripeSessionId: string | null;
  purchaseId: string | null;
  reservationId: string | null;
  workshop: { id: string; title: string } | null;
  actor: Person | null;
}

interface LedgerPage {
  edges: { cursor: string; node: LedgerRow }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export interface LedgerFilter {
  type?: string;
  status?: string;
  feature?: string;
  from?: string;
  to?: string;
}

/** What the ledger shows, kept while the operator stays on the account (and across reloads after an action). */
export interface LedgerState {
  filter: LedgerFilter;
  /** The cursors of the pages before this one (null for the first page), and this page's. */
  previous: (string | null)[];
  after: string | null;
}

export const freshLedgerState = (): LedgerState => ({ filter: {}, previous: [], after: null });

async function loadPage(account: Account, state: LedgerState): Promise<LedgerPage> {
  const root = rootField(account.kind);
  const ledger = ledgerField(account.kind);
  const { filter } = state;
  const variables = {
    id: account.id,
    after: state.after,
    filter: {
      ...(filter.type ? { type: filter.type } : {}),
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.feature ? { feature: filter.feature } : {}),
      ...(filter.from ? { from: `${filter.from}T00:00:00.000Z` } : {}),
      ...(filter.to ? { to: new Date(Date.parse(`${filter.to}T00:00:00.000Z`) + 86_400_000).toISOString() } : {}),
    },
  };
  const data = await gql<Record<string, Record<string, LedgerPage> | null>>(
    `query ConsoleLedger($id: ID!, $after: String, $filter: CreditHistoryFilter) { ${root}(id: $id) {
      ${ledger}(first: ${PAGE_SIZE}, after: $after, filter: $filter) { edges { cursor node { id type status amount balanceAfter description feature createdAt effectiveAt
        stripeSessionId purchaseId reservationId workshop { id title } actor { id email firstName lastName } } } pageInfo { hasNextPage endCursor } } } }`,
    variables,
  );
  return data[root]![ledger]!;
}

function links(row: LedgerRow): Child {
  const parts: Child[] = [];
  if (row.workshop) parts.push(h('span', {}, 'Workshop ', h('q', {}, row.workshop.title), ' ', h('code', {}, row.workshop.id)));
  if (row.type === 'PURCHASE' && row.stripeSessionId) parts.push(h('span', {}, 'Stripe session ', h('code', {}, row.stripeSessionId)));
  if (row.purchaseId) parts.push(h('span', {}, 'Purchase ', h('code', {}, row.purchaseId)));
  if (row.reservationId) parts.push(h('span', {}, 'Hold ', h('code', {}, row.reservationId)));
  return parts.length > 0 ? h('div', { class: 'links' }, parts) : '—';
}

const actorCell = (actor: Person | null): Child => (actor ? h('a', { href: `/console/users/${actor.id}` }, personName(actor)) : h('span', { class: 'muted' }, 'System'));

function typeCell(row: LedgerRow): Child {
  const type = titleCase(row.type);
  return h('span', { class: `type type-${row.type.toLowerCase()}` }, row.status === 'COMPLETED' ? type : `${type} (${row.status.toLowerCase()})`);
}

/** The ledger table with its filters and pages; `reload` refreshes the whole account after an action. */
export function ledgerSection(account: Account, state: LedgerState, reload: () => void): HTMLElement {
  const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'hint' }, 'Loading the ledger…'));
  const select = (name: string, options: string[], value: string | undefined) =>
    h('select', { name }, h('option', { value: '' }, 'Any'), options.map((option) => h('option', { value: option, selected: option === value }, titleCase(option))));
  const type = select('type', TYPES, state.filter.type);
  const status = select('status', STATUSES, state.filter.status);
  const feature = h('input', { type: 'text', name: 'feature', value: state.filter.feature ?? '', autocomplete: 'off', spellcheck: 'false' });
  const from = h('input', { type: 'date', name: 'from', value: state.filter.from ?? '' });
  const to = h('input', { type: 'date', name: 'to', value: state.filter.to ?? '' });
  const show = () => {
    body.setAttribute('aria-busy', 'true');
    void (async () => {
      try {
        const page = await loadPage(account, state);
        const rows = page.edges.map(({ node }) => [
          h('span', { class: 'when' }, dateTime(node.effectiveAt ?? node.createdAt)),
          typeCell(node),
          h('span', { class: node.amount < 0 ? 'amount negative' : 'amount' }, signed(node.amount)),
          count(node.balanceAfter),
          node.feature ? [node.description, ' ', h('span', { class: 'muted' }, `(${node.feature})`)] : node.description,
          actorCell(node.actor),
          links(node),
          node.type === 'PURCHASE' && node.status === 'COMPLETED'
            ? h('button', { type: 'button', class: 'secondary small', 'data-refund': node.id, onclick: () => refundDialog(account, node, reload) }, 'Refund', h('span', { class: 'visually-hidden' }, ` purchase ${node.id}`))
            : '',
        ]);
        const pager = h(
          'div',
          { class: 'pager' },
          h('button', { type: 'button', class: 'secondary', disabled: state.previous.length === 0, onclick: () => { state.after = state.previous.pop() ?? null; show(); } }, 'Newer'),
          h('button', { type: 'button', class: 'secondary', disabled: !page.pageInfo.hasNextPage, onclick: () => { state.previous.push(state.after); state.after = page.pageInfo.endCursor; show(); } }, 'Older'),
        );
        replace(
          body,
          table('Ledger rows, newest first', ['When', 'Type', 'Amount', 'Balance after', 'Description', 'Actor', 'Link', 'Action'], rows, {
            empty: 'No ledger rows match.',
            className: 'ledger',
          }),
          rows.length > 0 || state.previous.length > 0 ? pager : null,
        );
      } catch (error) {
        replace(body, errorBox(errorMessage(error)));
      } finally {
        body.setAttribute('aria-busy', 'false');
      }
    })();
  };
  const form = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Filter the ledger',
      onsubmit: (event: Event) => {
        event.preventDefault();
        state.filter = { type: type.value || undefined, status: status.value || undefined, feature: feature.value.trim() || undefined, from: from.value || undefined, to: to.value || undefined };
        state.previous = [];
        state.after = null;
        show();
      },
    },
    field('Type', type),
    field('Status', status),
    field('Feature', feature),
    field('From (UTC)', from),
    field('To (UTC, inclusive)', to),
    h('div', { class: 'filter-buttons' }, h('button', { type: 'submit' }, 'Apply filters'), h('button', { type: 'reset', class: 'secondary', onclick: () => { state.filter = {}; window.setTimeout(() => form.requestSubmit(), 0); } }, 'Clear')),
  );
  show();
  return h('div', {}, form, body);
}
