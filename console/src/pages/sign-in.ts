import { errorBox, field, h, replace } from '../dom.js';
import { storeToken } from '../session.js';

/** Sign-in: paste an admin's token. `submit` checks it and answers a reason in words when it is refused. */
export function renderSignIn(main: HTMLElement, message: string | undefined, submit: () => Promise<string | undefined>): void {
  document.title = 'Sign in · Tally console';
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true });
  const feedback = h('div', {}, message ? errorBox(message) : null);
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'panel sign-in',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const token = input.value.trim().replace(/^Bearer\s+/i, '');
        if (!token) {
          replace(feedback, errorBox('Paste a token first.'));
          input.focus();
          return;
        }
        button.disabled = true;
        replace(feedback, h('p', { class: 'hint' }, 'Checking the token…'));
        storeToken(token);
        const refusal = await submit();
        button.disabled = false;
        if (refusal) {
          replace(feedback, errorBox(refusal));
          input.focus();
        }
      },
    },
    field('Admin token', input, "A JWT of a user with the admin role (ADMIN_USER_IDS), without or with the 'Bearer ' prefix."),
    feedback,
    button,
  );
  replace(
    main,
    h('h1', {}, 'Sign in to the Tally console'),
    h(
      'p',
      { class: 'lede' },
      'Find an account, read its ledger and act on it. The token stays in this browser tab only (sessionStorage) and goes to this server alone.',
    ),
    form,
    h(
      'p',
      { class: 'hint' },
      'In development, ',
      h('code', {}, 'npm start'),
      ' prints a link that signs in the demo admin.',
    ),
  );
  if (message) input.focus();
}
