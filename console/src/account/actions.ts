import { gql } from '../api.js';
import { capabilities, fieldsOf, namedType } from '../capabilities.js';
import { field, h } from '../dom.js';
import { count, credits, dateTime, personName, type Person } from '../format.js';
import { accountArgs, type Account } from './account-data.js';
import { confirmAction } from './dialogs.js';

const effectText = (...lines: (string | null)[]) => lines.filter(Boolean).map((line) => h('p', {}, line));

/** grantCredits: credits for the account, optionally expiring; the reason becomes the GRANT row's description. */
export function grantCreditsDialog(account: Account, done: () => void): void {
  const amount = h('input', { type: 'number', name: 'amount', min: 1, max: 1_000_000, step: 1, required: true, inputmode: 'numeric' });
  const expires = h('input', { type: 'datetime-local', name: 'expiresAt' });
  // One key per dialog: pressing Confirm twice (or a retry after a lost answer) grants once.
  const idempotencyKey = `console-${crypto.randomUUID()}`;
  const value = () => (Number.isInteger(amount.valueAsNumber) && amount.valueAsNumber > 0 ? amount.valueAsNumber : 0);
  const expiry = () => (expires.value ? new Date(`${expires.value}:00Z`) : null);
  confirmAction({
    title: `Grant credits to ${account.name}`,
    effect: () => {
      const n = value();
      const when = expiry();
      return effectText(
        n > 0
          ? `Adds ${credits(n)} to ${account.name} (${account.id}): the balance goes from ${count(account.creditBalance)} to ${count(account.creditBalance + n)}.`
          : `Adds credits to ${account.name} (${account.id}); enter how many.`,
        when
          ? `Whatever of them is not spent by ${dateTime(when.toISOString())} expires then (expiring credits are spent first).`
          : 'They never expire.',
        'A GRANT row is written to the ledger with you as its actor.',
      );
    },
    fields: [
      field('Credits to grant', amount, '1 to 1,000,000.'),
      field('Expires at (UTC, optional)', expires, 'Leave empty for credits that never expire.'),
    ],
    reasonHint: 'Shown as the ledger row’s description, e.g. “Goodwill for the outage on 3 December”.',
    confirmLabel: 'Grant credits',
    run: async (reason) => {
      const when = expiry();
      const { grantCredits } = await gql<{ grantCredits: { amount: number; balanceAfter: number } }>(
        `mutation ConsoleGrant($input: GrantCreditsInput!) { grantCredits(input: $input) { id amount balanceAfter } }`,
        { input: { ...accountArgs(account), amount: value(), reason, idempotencyKey, ...(when ? { expiresAt: when.toISOString() } : {}) } },
      );
      return `Granted ${credits(grantCredits.amount)}; the balance is now ${count(grantCredits.balanceAfter)}.`;
    },
    done,
  });
}

export interface PurchaseRow {
  id: string;
  amount: number;
  description: string;
  createdAt: string;
  stripeSessionId: string | null;
}

/** refundCredits: reverses a completed purchase (in Stripe too, where configured); the reason is the REFUND row's. */
export function refundDialog(account: Account, purchase: PurchaseRow, done: () => void): void {
  confirmAction({
    title: `Refund purchase ${purchase.id}`,
    effect: () =>
      effectText(
        `Refunds “${purchase.description}” (+${count(purchase.amount)} on ${dateTime(purchase.createdAt)}${purchase.stripeSessionId ? `, Stripe session ${purchase.stripeSessionId}` : ''}) in full.`,
        'Where Stripe is configured the payment is refunded in Stripe first; then a REFUND row removes the purchase’s credits that the account still holds, never below zero.',
        `The balance goes from ${count(account.creditBalance)} to ${count(Math.max(0, account.creditBalance - purchase.amount))} at most${account.heldCredits > 0 ? ' (spendable credits first, then holds)' : ''}.`,
      ),
    reasonHint: 'Shown as the REFUND row’s description, e.g. “Customer asked within 14 days”.',
    confirmLabel: 'Refund purchase',
    run: async (reason) => {
      const sentAt = Date.now();
      const { refundCredits } = await gql<{ refundCredits: { amount: number; balanceAfter: number; description: string; createdAt: string } }>(
        `mutation ConsoleRefund($input: RefundCreditsInput!) { refundCredits(input: $input) { id amount balanceAfter description createdAt } }`,
        { input: { transactionId: purchase.id, reason } },
      );
      // A purchase reversed in full before (here, in Stripe's dashboard, or by a chargeback) answers with that earlier
      // reversal: nothing changed, and this reason was not recorded. Told by its text, or (the same text given twice)
      // by its age, with minutes to spare for a browser clock that is off.
      if (refundCredits.description !== reason || Date.parse(refundCredits.createdAt) < sentAt - 5 * 60_000) {
        return `Already refunded on ${dateTime(refundCredits.createdAt)} (“${refundCredits.description}”): nothing changed, and this reason was not recorded.`;
      }
      return `Refunded: ${credits(-refundCredits.amount)} removed; the balance is now ${count(refundCredits.balanceAfter)}.`;
    },
    done,
  });
}

export interface HoldRow {
  id: string;
  amount: number;
  feature: string;
  description: string | null;
  expiresAt: string;
  createdAt: string;
  actor: Person | null;
}

/** releaseReservation with a reason: frees a stuck hold without a charge; who and why are kept on the reservation. */
export function releaseDialog(account: Account, hold: HoldRow, done: () => void): void {
  confirmAction({
    title: `Release hold ${hold.id}`,
    effect: () =>
      effectText(
        `Releases ${credits(hold.amount)} held for “${hold.feature}”${hold.actor ? ` by ${personName(hold.actor)}` : ''} since ${dateTime(hold.createdAt)} (it would lapse at ${dateTime(hold.expiresAt)}).`,
        `Nothing is charged: the spendable balance goes from ${count(account.spendableCredits)} to ${count(account.spendableCredits + hold.amount)}. Whoever holds it can no longer capture it.`,
      ),
    reasonHint: 'Kept on the reservation, e.g. “Job crashed; the worker never captured”.',
    confirmLabel: 'Release hold',
    run: async (reason) => {
      await gql(`mutation ConsoleRelease($id: ID!, $reason: String) { releaseReservation(id: $id, reason: $reason) { id status } }`, { id: hold.id, reason });
      return `Released ${credits(hold.amount)} held by ${hold.id}.`;
    },
    done,
  });
}

/** Whether this server has an admin setPlan mutation that takes an account, a plan id and a reason. */
export function setPlanAvailable(): boolean {
  const setPlan = capabilities().mutation.setPlan;
  const input = setPlan?.args.find((arg) => arg.name === 'input');
  if (!input) return false;
  const names = new Set(fieldsOf(namedType(input.type)).map((f) => f.name));
  return names.has('planId') && names.has('reason') && names.has('userId') && names.has('organizationId');
}

async function planChoices(): Promise<{ id: string; name: string }[] | null> {
  if (!capabilities().query.plans || !fieldsOf('Plan').some((f) => f.name === 'name')) return null;
  try {
    return (await gql<{ plans: { id: string; name: string }[] }>('query ConsolePlans { plans { id name } }')).plans;
  } catch {
    return null;
  }
}

/** setPlan (where the server has it): moves the account to another plan, with a reason. */
export async function setPlanDialog(account: Account, done: () => void): Promise<void> {
  const plans = await planChoices();
  const control: HTMLInputElement | HTMLSelectElement = plans
    ? h('select', { name: 'planId', required: true }, plans.map((plan) => h('option', { value: plan.id, selected: plan.id === account.planTier }, `${plan.name} (${plan.id})`)))
    : h('input', { type: 'text', name: 'planId', required: true, value: account.planTier, autocomplete: 'off' });
  const inputType = namedType(capabilities().mutation.setPlan!.args.find((arg) => arg.name === 'input')!.type);
  confirmAction({
    title: `Change the plan of ${account.name}`,
    effect: () =>
      effectText(
        control.value && control.value !== account.planTier
          ? `Moves ${account.name} from the “${account.planTier}” plan to “${control.value}”.`
          : `${account.name} is on the “${account.planTier}” plan; choose another.`,
        'Plan allowances follow the new plan; the change is recorded with your reason.',
      ),
    fields: [field('New plan', control)],
    reasonHint: 'Recorded with the change, e.g. “Upgrade agreed by sales (ticket 4312)”.',
    confirmLabel: 'Change plan',
    run: async (reason) => {
      await gql(`mutation ConsoleSetPlan($input: ${inputType}!) { setPlan(input: $input) { __typename } }`, {
        input: { ...accountArgs(account), planId: control.value, reason },
      });
      return `${account.name} is now on the “${control.value}” plan.`;
    },
    done,
  });
}
