import type { Options } from '@mikro-orm/postgresql';
import { CreditPackEntity } from './billing/credit-pack.entity.js';
import { StripeDisputeEntity } from './billing/stripe-dispute.entity.js';
import { StripeEventEntity } from './billing/stripe-event.entity.js';
import { CreditAllocationEntity } from './credits/credit-allocation.entity.js';
import { CreditGrantEntity } from './credits/credit-grant.entity.js';
import { CreditTransactionEntity } from './credits/credit-transaction.entity.js';
import { ReservationEntity } from './credits/reservation.entity.js';
import { baseOrmOptions, type OrmOptionsInput } from './database/orm-options.js';
import { AccountEntity } from './accounts/account.entity.js';
import { PlanEntity } from './accounts/plan.entity.js';
import { EventEntity } from './events/event.entity.js';
import { WebhookDeliveryEntity } from './events/webhook-delivery.entity.js';
import { WebhookEndpointEntity } from './events/webhook-endpoint.entity.js';
import { AutoRechargeAttemptEntity } from './billing/auto-recharge-attempt.entity.js';
import { OrganizationMemberEntity } from './organizations/organization-member.entity.js';
import { OrganizationEntity } from './organizations/organization.entity.js';
import { UserEntity } from './users/user.entity.js';
import { WorkshopEntity } from './workshops/workshop.entity.js';

/** Every table, as its feature declares it: the schema's source for migrations and the drift test. */
export const entities = [
  PlanEntity,
  AccountEntity,
  UserEntity,
  OrganizationEntity,
  OrganizationMemberEntity,
  WorkshopEntity,
  CreditTransactionEntity,
  CreditPackEntity,
  StripeEventEntity,
  CreditGrantEntity,
  CreditAllocationEntity,
  ReservationEntity,
  StripeDisputeEntity,
  EventEntity,
  WebhookEndpointEntity,
  WebhookDeliveryEntity,
  AutoRechargeAttemptEntity,
];

/** The one MikroORM configuration, used by the server, the CLI, the seeder, tests and the benchmark. */
export const ormOptions = (input: Omit<OrmOptionsInput, 'entities'>): Options => baseOrmOptions({ ...input, entities });
