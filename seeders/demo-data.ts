/** Demo data for development. Ids are fixed so the seed can run any number of times without duplicating rows. */

export interface DemoUser {
  id: string;
  clerkUserId: string;
  email: string;
  firstName: string;
  lastName: string;
  company?: string;
  roles?: string[];
  onboarded: boolean;
  deleted?: boolean;
}

const user = (slug: string, firstName: string, extra: Partial<DemoUser> = {}): DemoUser => ({
  id: `usr_seed${slug}`,
  clerkUserId: `user_${slug}`,
  email: `${slug}@example.com`,
  firstName,
  lastName: 'Example',
  onboarded: true,
  ...extra,
});

export const DEMO_USER = user('demo', 'Dana', { company: 'Tally Demo Co' });

export const SEED_USERS = {
  demo: DEMO_USER,
  zero: user('zero', 'Zoe'),
  rich: user('rich', 'Rico'),
  history: user('history', 'Hana'),
  refunded: user('refunded', 'Remy'),
  onboarding: user('onboarding', 'Otto', { onboarded: false, company: 'Half Done Ltd' }),
  workshops: user('workshops', 'Wren'),
  exact: user('exact', 'Eli'),
  purchases: user('purchases', 'Pia'),
  holds: user('holds', 'Hal', { company: 'Metered Inc' }),
  deleted: user('deleted', 'Dee', { deleted: true }),
  admin: user('admin', 'Ada', { roles: ['admin'] }),
  orgAdmin: user('orgadmin', 'Omar', { company: 'Acme Robotics' }),
  orgMember: user('orgmember', 'Mia', { company: 'Acme Robotics' }),
  orgMember2: user('orgmember2', 'Max', { company: 'Acme Robotics' }),
  subscriber: user('subscriber', 'Sam', { company: 'Paying Customer LLC' }),
  trial: user('trial', 'Tia'),
  pastDue: user('pastdue', 'Pat'),
  globex: user('globex', 'Gia', { company: 'Globex Studio' }),
} satisfies Record<string, DemoUser>;

/** The demo team: owned by the demo user, with an admin and two members. */
export const SEED_ORGANIZATION = { id: 'org_seedacme', name: 'Acme Robotics' };

/** A second team, on the team plan through a Stripe subscription. */
export const SEED_SUBSCRIBED_ORGANIZATION = { id: 'org_seedglobex', name: 'Globex Studio' };

/**
 * Subscriptions as Stripe's events would have left them (ids are fixed, dates follow the first seed run): a paying
 * pro user, a team on the team plan, a user in a pro trial, and a pro user whose renewal payment failed (past due).
 */
export const SEED_SUBSCRIPTIONS = {
  subscriber: { id: 'sub_seedsubscriber', plan: 'pro', status: 'active', startedDaysAgo: 10 },
  globex: { id: 'sub_seedglobex', plan: 'team', status: 'active', startedDaysAgo: 2 },
  trial: { id: 'sub_seedtrial', plan: 'pro', status: 'trialing', startedDaysAgo: 3 },
  pastDue: { id: 'sub_seedpastdue', plan: 'pro', status: 'past_due', startedDaysAgo: 35 },
} as const;

export const SEED_PACKS = [
  { id: 'pack_single', name: 'Single credit', credits: 1, priceCents: 200, currency: 'usd' },
  { id: 'pack_five', name: 'Five pack', credits: 5, priceCents: 900, currency: 'usd' },
  { id: 'pack_twenty', name: 'Twenty pack', credits: 20, priceCents: 2900, currency: 'usd' },
];

export const WORKSHOP_COUNT = 50;
