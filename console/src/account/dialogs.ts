import { errorMessage } from '../api.js';
import { announce, errorBox, field, h, replace, uid, type Child } from '../dom.js';

export interface ConfirmOptions {
  title: string;
  /** What confirming will do, in words; called again whenever a field changes. */
  effect: () => Child;
  fields?: HTMLElement[];
  /** Asks for a reason (required, recorded with the change) when given; some actions record none. */
  reasonHint?: string;
  confirmLabel: string;
  /** Does it; answers what to announce. Throws ApiError for a refusal, shown in the dialog. */
  run: (reason: string) => Promise<string>;
  /** After a success (the page reloads what changed). */
  done: () => void;
}

/**
 * An action behind a confirmation: a modal dialog that says what will happen, asks for the reason that will be
 * recorded, and does it only on "Confirm". Escape or Cancel closes it and changes nothing.
 */
export function confirmAction(options: ConfirmOptions): void {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const titleId = uid('dialog-title');
  const effectId = uid('dialog-effect');
  const effect = h('div', { class: 'effect', id: effectId, 'aria-live': 'polite' });
  const reason = h('textarea', { name: 'reason', required: true, maxlength: 500, rows: 3 });
  const asksReason = options.reasonHint !== undefined;
  const feedback = h('div');
  const confirm = h('button', { type: 'submit' }, options.confirmLabel);
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const updateEffect = () => replace(effect, options.effect());
  const form = h(
    'form',
    { novalidate: true },
    h('h2', { id: titleId }, options.title),
    effect,
    ...(options.fields ?? []),
    options.reasonHint ? field('Reason (required, recorded with the change)', reason, options.reasonHint) : null,
    feedback,
    h('div', { class: 'buttons' }, cancel, confirm),
  );
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId, 'aria-describedby': effectId }, form);
  const close = () => {
    dialog.close();
    dialog.remove();
    if (opener?.isConnected) opener.focus();
  };
  form.addEventListener('input', updateEffect);
  form.addEventListener('change', updateEffect);
  cancel.addEventListener('click', close);
  dialog.addEventListener('cancel', (event) => {
    event.preventDefault();
    close();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const invalid = [...form.querySelectorAll<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>('input, textarea, select')].find(
      (control) => !control.checkValidity() || (control === reason && reason.value.trim() === ''),
    );
    if (invalid) {
      const label = form.querySelector(`label[for="${invalid.id}"]`)?.textContent ?? 'A field';
      replace(feedback, errorBox(`${label.replace(/ \(.*\)$/, '')}: ${invalid.validationMessage || 'please fill this in.'}`));
      invalid.focus();
      return;
    }
    confirm.disabled = true;
    cancel.disabled = true;
    replace(feedback, h('p', { class: 'hint' }, 'Working…'));
    try {
      const message = await options.run(asksReason ? reason.value.trim() : '');
      dialog.close();
      dialog.remove();
      announce(message);
      options.done();
    } catch (error) {
      replace(feedback, errorBox(errorMessage(error)));
      confirm.disabled = false;
      cancel.disabled = false;
      confirm.focus();
    }
  });
  updateEffect();
  document.body.append(dialog);
  dialog.showModal();
  (form.querySelector<HTMLElement>('input, select, textarea') ?? reason).focus();
}
