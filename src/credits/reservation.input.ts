import { Field, ID, InputType, Int } from 'type-graphql';

export const DEFAULT_RESERVATION_TTL_SECONDS = 900;
export const MAX_RESERVATION_TTL_SECONDS = 7 * 86_400;

@InputType()
export class ReserveCreditsInput {
  @Field(() => Int, { description: '1 .. 1,000,000: the most the work may cost.' })
  amount!: number;

  @Field(() => String, { description: 'What the capture is charged under; 1..64 characters of [a-z0-9_.-].' })
  feature!: string;

  @Field(() => String, { description: '1..255 characters, unique per user forever. A retry returns the original reservation.' })
  idempotencyKey!: string;

  @Field(() => Int, {
    nullable: true,
    defaultValue: DEFAULT_RESERVATION_TTL_SECONDS,
    description: '1 .. 604,800 (7 days): after this the hold lapses and its credits are freed.',
  })
  ttlSeconds?: number | null;

  @Field(() => String, { nullable: true, description: "The capture's ledger description." })
  description?: string | null;

  @Field(() => ID, { nullable: true, description: "Hold on this organization's wallet (the viewer must be a member; it counts against their monthly limit while open)." })
  organizationId?: string | null;
}
