import { Field, InputType } from 'type-graphql';

@InputType()
export class CreateWorkshopInput {
  @Field(() => String, { description: '1..200 characters.' })
  title!: string;
}
