import { errorMessage, gql } from '../api.js';
import { errorBox, h, replace, table } from '../dom.js';
import { count, credits, dateTime, personName } from '../format.js';
import { accountArgs, type Account } from './account-data.js';
import { releaseDialog, type HoldRow } from './actions.js';

interface Connection<T> {
  edges: { node: T }[];
  pageInfo: { hasNextPage: boolean };
}

interface GrantRow {
  id: string;
  amount: number;
  remaining: number;
  expiresAt: string;
  description: string;
  createdAt: string;
}

const LIMIT = 50;

/** Open holds (each with Release) and grants that will expire, in two tables. */
export function holdsAndGrants(account: Account, reload: () => void): { holds: HTMLElement; grants: HTMLElement } {
  const holds = h('div', { 'aria-busy': 'true' }, h('p', { class: 'hint' }, 'Loading holds…'));
  const grants = h('div', { 'aria-busy': 'true' }, h('p', { class: 'hint' }, 'Loading grants…'));
  void (async () => {
    try {
      const lists = await gql<{ reservations: Connection<HoldRow>; expiringGrants: Connection<GrantRow> }>(
        `query ConsoleHolds($userId: ID, $organizationId: ID) {
          reservations(userId: $userId, organizationId: $organizationId, status: HELD, first: ${LIMIT}) {
            edges { node { id amount feature description expiresAt createdAt actor { id email firstName lastName } } } pageInfo { hasNextPage } }
          expiringGrants(userId: $userId, organizationId: $organizationId, first: ${LIMIT}) {
            edges { node { id amount remaining expiresAt description createdAt } } pageInfo { hasNextPage } } }`,
        accountArgs(account),
      );
      const open = lists.reservations.edges.map((edge) => edge.node);
      replace(
        holds,
        table(
          'Open holds',
          ['Hold', 'Credits', 'Feature', 'Held by', 'Since', 'Lapses', 'Action'],
          open.map((hold) => [
            h('code', {}, hold.id),
            count(hold.amount),
            hold.description ? [hold.feature, ' ', h('span', { class: 'muted' }, `(${hold.description})`)] : hold.feature,
            hold.actor ? h('a', { href: `/console/users/${hold.actor.id}` }, personName(hold.actor)) : '—',
            dateTime(hold.createdAt),
            dateTime(hold.expiresAt),
            h('button', { type: 'button', class: 'secondary small', 'data-release': hold.id, onclick: () => releaseDialog(account, hold, reload) }, 'Release', h('span', { class: 'visually-hidden' }, ` hold ${hold.id}`)),
          ]),
          { empty: 'No open holds.' },
        ),
        lists.reservations.pageInfo.hasNextPage ? h('p', { class: 'hint' }, `The ${LIMIT} newest open holds are shown.`) : null,
      );
      replace(
        grants,
        table(
          'Expiring grants',
          ['Grant', 'Left', 'Expires', 'Granted'],
          lists.expiringGrants.edges.map(({ node }) => [
            [node.description, ' ', h('code', {}, node.id)],
            `${count(node.remaining)} of ${credits(node.amount)}`,
            dateTime(node.expiresAt),
            dateTime(node.createdAt),
          ]),
          { empty: 'No credits are due to expire.' },
        ),
      );
    } catch (error) {
      replace(holds, errorBox(errorMessage(error)));
      replace(grants, errorBox(errorMessage(error)));
    } finally {
      holds.setAttribute('aria-busy', 'false');
      grants.setAttribute('aria-busy', 'false');
    }
  })();
  return { holds, grants };
}
