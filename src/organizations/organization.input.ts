import { Field, ID, InputType, Int } from 'type-graphql';
import { OrganizationRole } from './organization-role.js';

@InputType()
export class CreateOrganizationInput {
  @Field(() => String, { description: '1..200 characters.' })
  name!: string;
}

@InputType()
export class AddOrganizationMemberInput {
  @Field(() => ID)
  organizationId!: string;

  @Field(() => ID, { description: 'The user to add (usr_...).' })
  userId!: string;

  @Field(() => OrganizationRole)
  role!: OrganizationRole;

  @Field(() => Int, { nullable: true, description: 'Credits per UTC calendar month the member may spend from the wallet; omitted or null: no limit.' })
  monthlySpendLimit?: number | null;
}

@InputType()
export class UpdateOrganizationMemberInput {
  @Field(() => ID)
  organizationId!: string;

  @Field(() => ID)
  userId!: string;

  @Field(() => OrganizationRole, { nullable: true, description: 'Omitted or null: unchanged.' })
  role?: OrganizationRole | null;

  @Field(() => Int, { nullable: true, description: 'A new limit; omitted or null leaves it as it is (use clearMonthlySpendLimit to remove it).' })
  monthlySpendLimit?: number | null;

  @Field(() => Boolean, { nullable: true, description: 'true removes the monthly spend limit (the member may spend what the wallet holds).' })
  clearMonthlySpendLimit?: boolean | null;
}
