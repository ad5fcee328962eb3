import { Entity, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { AccountEntity } from '../accounts/account.entity.js';

/**
 * The events table: the outbox. An event is appended in the transaction of the change it describes (outbox.ts), so
 * it exists exactly when the change committed; the dispatcher fans it out to webhook endpoints afterwards and marks
 * it dispatched. `seq` numbers an account's events 1, 2, 3... in the order their transactions took the account's
 * row lock (accounts.event_seq). Rows are never changed except for `dispatched_at`, and never deleted.
 */
@Entity({ tableName: 'events' })
@Unique({ name: 'events_account_seq_unique', properties: ['account', 'seq'] })
// What the dispatcher claims, oldest first; dispatched events leave the index.
@Index({ name: 'events_undispatched_index', properties: ['createdAt'], where: 'dispatched_at is null' })
export class EventEntity {
  [OptionalProps]?: 'createdAt' | 'dispatchedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @ManyToOne(() => AccountEntity, { deleteRule: 'no action' })
  account!: AccountEntity;

  @Property({ type: 'bigint' })
  seq!: string;

  @Property({ type: 'text' })
  type!: string;

  @Property({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  @Property({ type: 'timestamptz', defaultRaw: 'clock_timestamp()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', nullable: true })
  dispatchedAt?: Date | null;
}
