import { Check, Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { OptionalProps } from '@mikro-orm/core';
import { prefixedId } from '../database/ids.js';

@ObjectType({ description: 'A pack of credits sold through Stripe Checkout.' })
@Entity({ tableName: 'credit_packs' })
@Check({ name: 'credit_packs_credits_check', expression: 'credits > 0' })
@Check({ name: 'credit_packs_price_cents_check', expression: 'price_cents >= 0' })
export class CreditPack {
  [OptionalProps]?: 'id' | 'currency' | 'active' | 'createdAt' | 'updatedAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'text' })
  id: string = prefixedId('pack');

  @Field(() => String)
  @Property({ type: 'text' })
  name!: string;

  @Field(() => Int)
  @Property({ type: 'integer' })
  credits!: number;

  @Field(() => Int)
  @Property({ type: 'integer' })
  priceCents!: number;

  @Field(() => String, { description: 'ISO currency code, lower case as Stripe uses it.' })
  @Property({ type: 'text', default: 'usd' })
  currency: string = 'usd';

  @Property({ type: 'text', nullable: true })
  stripePriceId?: string | null;

  @Property({ type: 'boolean', default: true })
  active: boolean = true;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}

/** The description of a purchase row for this pack. */
export const purchaseDescription = (pack: Pick<CreditPack, 'name' | 'credits'>) =>
  `${pack.name}: ${pack.credits} credit${pack.credits === 1 ? '' : 's'}`;
