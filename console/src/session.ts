/** The operator's token lives in sessionStorage only: it goes when the tab closes, and never into a URL or a log. */

const KEY = 'tally.console.token';

export const storedToken = (): string | null => sessionStorage.getItem(KEY);

export const storeToken = (token: string) => sessionStorage.setItem(KEY, token);

export const forgetToken = () => sessionStorage.removeItem(KEY);

/**
 * A sign-in link carries the token in the fragment (`/console/#token=...`), which browsers never send to a server:
 * take it into sessionStorage and drop it from the address bar and history.
 */
export function takeTokenFromFragment(): boolean {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return false;
  storeToken(decodeURIComponent(match[1]!));
  history.replaceState(null, '', window.location.pathname + window.location.search);
  return true;
}
