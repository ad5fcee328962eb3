import { errorMessage, gql } from '../api.js';
import { errorBox, field, h, replace, section, table } from '../dom.js';
import { credits, dateTime, personName } from '../format.js';
import { navigate } from '../router.js';

interface Page<T> {
  edges: { node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

interface UserRow {
  id: string;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  creditBalance: number;
  planTier: string;
  createdAt: string;
}

interface OrganizationRow {
  id: string;
  name: string;
  creditBalance: number;
  planTier: string;
  createdAt: string;
}

const USERS = `query ConsoleUsers($search: String, $after: String) {
  users(search: $search, first: 20, after: $after) { edges { node { id email firstName lastName creditBalance planTier createdAt } } pageInfo { hasNextPage endCursor } }
}`;

const ORGANIZATIONS = `query ConsoleOrganizations($search: String, $after: String) {
  organizations(search: $search, first: 20, after: $after) { edges { node { id name creditBalance planTier createdAt } } pageInfo { hasNextPage endCursor } }
}`;

/** A list that grows by pages: "Show more" fetches the next one after the last cursor. */
function pagedList<T>(
  title: string,
  load: (after: string | null) => Promise<Page<T>>,
  headers: string[],
  row: (item: T) => (Node | string)[],
  empty: string,
): HTMLElement {
  const items: T[] = [];
  const body = h('div', {}, h('p', { class: 'hint' }, 'Loading…'));
  const container = section(title, body);
  let cursor: string | null = null;
  const more = async () => {
    try {
      const page = await load(cursor);
      items.push(...page.edges.map((edge) => edge.node));
      cursor = page.pageInfo.endCursor;
      const button = page.pageInfo.hasNextPage
        ? h('button', { type: 'button', class: 'secondary', onclick: () => void more() }, `Show more ${title.toLowerCase()}`)
        : null;
      replace(body, table(title, headers, items.map(row), { empty, className: 'list' }), button);
    } catch (error) {
      replace(body, errorBox(errorMessage(error)));
    }
  };
  void more();
  return container;
}

export async function renderSearch(main: HTMLElement, query: string): Promise<void> {
  document.title = query ? `“${query}” · Tally console` : 'Search · Tally console';
  const input = h('input', { type: 'search', name: 'q', value: query, autocomplete: 'off', spellcheck: 'false' });
  const form = h(
    'form',
    {
      role: 'search',
      class: 'search',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const q = input.value.trim();
        navigate(q ? `/console/?q=${encodeURIComponent(q)}` : '/console/');
      },
    },
    field('Search accounts', input, 'A user by id, email or name; an organization by id or name. Leave empty to list the newest.'),
    h('button', { type: 'submit' }, 'Search'),
  );
  const search = query || null;
  replace(
    main,
    h('h1', {}, 'Find an account'),
    form,
    h(
      'div',
      { class: 'results' },
      pagedList<UserRow>(
        'Users',
        async (after) => (await gql<{ users: Page<UserRow> }>(USERS, { search, after })).users,
        ['Name', 'Email', 'Balance', 'Plan', 'Joined'],
        (user) => [h('a', { href: `/console/users/${user.id}` }, personName(user)), user.email ?? '—', credits(user.creditBalance), user.planTier, dateTime(user.createdAt)],
        search ? `No user matches “${query}”.` : 'No users yet.',
      ),
      pagedList<OrganizationRow>(
        'Organizations',
        async (after) => (await gql<{ organizations: Page<OrganizationRow> }>(ORGANIZATIONS, { search, after })).organizations,
        ['Name', 'Id', 'Balance', 'Plan', 'Created'],
        (org) => [h('a', { href: `/console/organizations/${org.id}` }, org.name), h('code', {}, org.id), credits(org.creditBalance), org.planTier, dateTime(org.createdAt)],
        search ? `No organization matches “${query}”.` : 'No organizations yet.',
      ),
    ),
  );
}
