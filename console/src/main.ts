import { errorMessage, gql, whenSignedOut } from './api.js';
import { loadCapabilities } from './capabilities.js';
import { h, replace } from './dom.js';
import { personName } from './format.js';
import { renderAccount } from './pages/account.js';
import { renderAudit } from './pages/audit.js';
import { renderEvents, eventsAvailable } from './pages/events.js';
import { renderSearch } from './pages/search.js';
import { renderSignIn } from './pages/sign-in.js';
import { parseRoute, startRouter } from './router.js';
import { forgetToken, storedToken, takeTokenFromFragment } from './session.js';

export interface Operator {
  id: string;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  roles: string[];
}

const main = () => document.getElementById('main')!;
const topbar = () => document.getElementById('topbar')!;

let operator: Operator | undefined;

/** Checks the stored token: it must be accepted and belong to an admin. Returns a reason in words when it is not. */
export async function signIn(): Promise<string | undefined> {
  try {
    const { me } = await gql<{ me: Operator }>('query ConsoleOperator { me { id email firstName lastName roles } }');
    if (!me.roles.includes('admin')) {
      forgetToken();
      return `That token belongs to ${personName(me)}, who is not an admin. The console is for Tally's admins (ADMIN_USER_IDS).`;
    }
    operator = me;
    return undefined;
  } catch (error) {
    forgetToken();
    return errorMessage(error);
  }
}

function renderTopbar(current: string): void {
  const link = (href: string, label: string, page: string) => h('a', { href, 'aria-current': current === page ? 'page' : null }, label);
  replace(
    topbar(),
    h('a', { class: 'brand', href: '/console/' }, 'Tally console'),
    h(
      'nav',
      { 'aria-label': 'Console' },
      h(
        'ul',
        {},
        h('li', {}, link('/console/', 'Search', 'search')),
        h('li', {}, link('/console/audit', 'Audit', 'audit')),
        eventsAvailable() ? h('li', {}, link('/console/events', 'Events', 'events')) : null,
      ),
    ),
    operator
      ? h(
          'div',
          { class: 'who' },
          h('span', {}, 'Signed in as ', h('strong', {}, personName(operator))),
          h('button', { type: 'button', class: 'secondary', onclick: () => signOut('You signed out.') }, 'Sign out'),
        )
      : null,
  );
}

function signOut(message: string): void {
  forgetToken();
  operator = undefined;
  history.replaceState(null, '', '/console/');
  showSignIn(message);
}

function showSignIn(message?: string): void {
  renderTopbar('');
  renderSignIn(main(), message, async () => {
    const refusal = await signIn();
    if (refusal) return refusal;
    route();
    return undefined;
  });
}

let firstRender = true;

function route(): void {
  if (!operator) {
    showSignIn();
    return;
  }
  const current = parseRoute(window.location);
  renderTopbar(current.page);
  const target = main();
  switch (current.page) {
    case 'search':
      void renderSearch(target, current.query);
      break;
    case 'account':
      void renderAccount(target, current.kind, current.id);
      break;
    case 'audit':
      renderAudit(target);
      break;
    case 'events':
      void renderEvents(target);
      break;
    default:
      document.title = 'Not found · Tally console';
      replace(target, h('h1', {}, 'No such page'), h('p', {}, 'The console has no page at ', h('code', {}, current.path), '. ', h('a', { href: '/console/' }, 'Go to search'), '.'));
  }
  // Moving between pages puts focus on the new page, as a page load would.
  if (!firstRender) target.focus();
  firstRender = false;
}

async function boot(): Promise<void> {
  takeTokenFromFragment();
  await loadCapabilities();
  whenSignedOut((reason) => {
    operator = undefined;
    showSignIn(reason);
  });
  startRouter(route);
  if (storedToken()) {
    const refusal = await signIn();
    if (refusal) {
      showSignIn(refusal);
      return;
    }
  }
  route();
}

void boot();
