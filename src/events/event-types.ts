/**
 * Every event type Tally emits, as receivers see it in `type`. Endpoints subscribe to a list of these, or to `*` for
 * all of them (including types added later).
 */
export const EVENT_TYPES = [
  'credits.consumed',
  'credits.granted',
  'purchase.completed',
  'purchase.failed',
  'credits.refunded',
  'credits.disputed',
  'credits.dispute_won',
  'credits.expired',
  'reservation.created',
  'reservation.captured',
  'reservation.released',
  'reservation.expired',
  'balance.low',
  'balance.depleted',
  'auto_recharge.succeeded',
  'auto_recharge.failed',
  'auto_recharge.disabled',
  'subscription.updated',
  'plan.changed',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** An endpoint's subscription to every type, present and future. */
export const ALL_EVENT_TYPES = '*';

export const isEventType = (value: string): value is EventType => (EVENT_TYPES as readonly string[]).includes(value);
