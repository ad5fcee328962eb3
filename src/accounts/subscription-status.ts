import { registerEnumType } from 'type-graphql';

/**
 * The state of the Stripe subscription that sets an account's plan, as stored (Stripe's own spelling). Stripe's
 * incomplete_expired is stored as canceled, and paused as unpaid (not paying; it may resume).
 */
export enum SubscriptionStatus {
  TRIALING = 'trialing',
  ACTIVE = 'active',
  PAST_DUE = 'past_due',
  CANCELED = 'canceled',
  UNPAID = 'unpaid',
  INCOMPLETE = 'incomplete',
}

registerEnumType(SubscriptionStatus, {
  name: 'SubscriptionStatus',
  description: "The state of the account's Stripe subscription (null on an account that never had one).",
  valuesConfig: {
    TRIALING: { description: 'In a free trial: the plan applies, its credits for the trial were granted.' },
    ACTIVE: { description: 'Paid up: each paid period brings the plan\'s credits.' },
    PAST_DUE: { description: 'A renewal payment failed and Stripe is retrying: the plan and the credits granted stay.' },
    CANCELED: { description: 'Ended: the account is back on the free plan.' },
    UNPAID: { description: "Stripe stopped retrying (or the subscription is paused): the account is on the free plan until it pays." },
    INCOMPLETE: { description: 'The first payment has not gone through yet: the plan does not apply yet.' },
  },
});
