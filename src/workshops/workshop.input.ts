import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class CreateWorkshopInput {
  @Field(() => String, { description: '1..200 characters.' })
  title!: string;

  @Field(() => ID, { nullable: true, description: "Charge it to this organization's wallet (the viewer must be a member). Omitted: the viewer's own." })
  organizationId?: string | null;
}
