import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import type { Row } from '../database/rows.js';

/** The CreditPack GraphQL type, as a read model of a credit_packs row. */
@ObjectType('CreditPack', { description: 'A pack of credits sold through Stripe Checkout.' })
export class CreditPack {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Int)
  credits!: number;

  @Field(() => Int)
  priceCents!: number;

  @Field(() => String, { description: 'ISO currency code, lower case as Stripe uses it.' })
  currency!: string;

  stripePriceId!: string | null;

  active!: boolean;
}

export const toCreditPack = (row: Row): CreditPack => ({
  id: String(row.id),
  name: String(row.name),
  credits: Number(row.credits),
  priceCents: Number(row.price_cents),
  currency: String(row.currency),
  stripePriceId: row.stripe_price_id == null ? null : String(row.stripe_price_id),
  active: row.active === true,
});

/** The pack with this id (active or not), if any. */
export async function findPack(em: EntityManager, id: string, options: { activeOnly?: boolean } = {}): Promise<CreditPack | undefined> {
  const [row] = await em.execute<Row[]>(`select * from credit_packs where id = ?${options.activeOnly ? ' and active' : ''}`, [id]);
  return row ? toCreditPack(row) : undefined;
}

/** At most this many packs are listed: a catalogue, not a data set. */
export const MAX_LISTED_PACKS = 100;

export async function activePacks(em: EntityManager): Promise<CreditPack[]> {
  const rows = await em.execute<Row[]>('select * from credit_packs where active order by credits, id limit ?', [MAX_LISTED_PACKS]);
  return rows.map(toCreditPack);
}

/** The description of a purchase row for this pack. */
export const purchaseDescription = (pack: Pick<CreditPack, 'name' | 'credits'>) =>
  `${pack.name}: ${pack.credits} credit${pack.credits === 1 ? '' : 's'}`;
