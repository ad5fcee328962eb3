import { CreditPack } from '../billing/credit-pack.entity.js';
import { StripeEvent } from '../billing/stripe-event.entity.js';
import { CreditAllocation } from '../credits/credit-allocation.entity.js';
import { CreditGrant } from '../credits/credit-grant.entity.js';
import { CreditTransaction } from '../credits/credit-transaction.entity.js';
import { Reservation } from '../credits/reservation.entity.js';
import { User } from '../users/user.entity.js';
import { Workshop } from '../workshops/workshop.entity.js';

export const entities = [User, Workshop, CreditTransaction, CreditPack, StripeEvent, CreditGrant, CreditAllocation, Reservation];
