/** Paths under /console are the app's pages; links to them are followed here, without reloading. */

export type Route =
  | { page: 'search'; query: string }
  | { page: 'account'; kind: 'user' | 'organization'; id: string }
  | { page: 'audit' }
  | { page: 'events' }
  | { page: 'missing'; path: string };

export function parseRoute(location: Location): Route {
  const path = location.pathname.replace(/\/+$/, '');
  const account = /^\/console\/(users|organizations)\/([A-Za-z0-9_-]{1,64})$/.exec(path);
  if (account) return { page: 'account', kind: account[1] === 'users' ? 'user' : 'organization', id: account[2]! };
  if (path === '/console' || path === '') return { page: 'search', query: new URLSearchParams(location.search).get('q') ?? '' };
  if (path === '/console/audit') return { page: 'audit' };
  if (path === '/console/events') return { page: 'events' };
  return { page: 'missing', path };
}

export const accountPath = (id: string) => (id.startsWith('org_') ? `/console/organizations/${id}` : `/console/users/${id}`);

let render: () => void = () => undefined;

export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

export function startRouter(onRoute: () => void): void {
  render = onRoute;
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element | null)?.closest?.('a');
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith('/console') || url.hash) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
