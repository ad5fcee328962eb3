import { Check, Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';

/** The credit_packs table as the schema's source; requests read rows into the CreditPack read model. */
@Entity({ tableName: 'credit_packs' })
@Check({ name: 'credit_packs_credits_check', expression: 'credits > 0' })
@Check({ name: 'credit_packs_price_cents_check', expression: 'price_cents >= 0' })
export class CreditPackEntity {
  [OptionalProps]?: 'currency' | 'active' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @Property({ type: 'text' })
  name!: string;

  @Property({ type: 'integer' })
  credits!: number;

  @Property({ type: 'integer' })
  priceCents!: number;

  @Property({ type: 'text', default: 'usd' })
  currency: string = 'usd';

  @Property({ type: 'text', nullable: true })
  stripePriceId?: string | null;

  @Property({ type: 'boolean', default: true })
  active: boolean = true;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
