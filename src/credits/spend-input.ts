import { badUserInput } from '../core/errors.js';
import { featureKey, intInRange } from '../core/validation.js';
import { WORKSHOP_FEATURE } from './credit-transaction.enums.js';

/** Inputs shared by every operation that spends or holds credits. */

export const MAX_CREDIT_AMOUNT = 1_000_000;

export const creditAmount = (field: string, value: number) => intInRange(field, value, 1, MAX_CREDIT_AMOUNT);

/** A feature a client may spend on; "workshop" belongs to consumeWorkshopCredit, which charges once per workshop. */
export function spendFeature(field: string, value: string): string {
  const feature = featureKey(field, value);
  if (feature === WORKSHOP_FEATURE) throw badUserInput(field, '"workshop" is reserved for consumeWorkshopCredit');
  return feature;
}
