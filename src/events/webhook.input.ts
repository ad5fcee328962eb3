import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class CreateWebhookEndpointInput {
  @Field(() => String, { description: 'https:// (http:// outside production), at most 2,048 characters, no credentials or #fragment.' })
  url!: string;

  @Field(() => [String], { description: 'At least one event type (see webhookEventTypes), or "*" for every type.' })
  eventTypes!: string[];

  @Field(() => String, { nullable: true, description: 'At most 500 characters.' })
  description?: string | null;
}

@InputType()
export class UpdateWebhookEndpointInput {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true, description: 'Omitted or null: unchanged.' })
  url?: string | null;

  @Field(() => [String], { nullable: true, description: 'Omitted or null: unchanged.' })
  eventTypes?: string[] | null;

  @Field(() => String, { nullable: true, description: 'Omitted or null: unchanged; "" removes it.' })
  description?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'Omitted or null: unchanged.' })
  enabled?: boolean | null;
}
