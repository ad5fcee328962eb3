import { registerEnumType } from 'type-graphql';

export enum OrganizationRole {
  OWNER = 'owner',
  ADMIN = 'admin',
  MEMBER = 'member',
}
registerEnumType(OrganizationRole, {
  name: 'OrganizationRole',
  valuesConfig: {
    OWNER: { description: 'Manages members, owners included; an organization always keeps at least one.' },
    ADMIN: { description: 'Manages members other than owners, buys credits.' },
    MEMBER: { description: 'Spends from the shared wallet, within their monthly spend limit.' },
  },
});

/** Roles that manage members and buy credits. */
export const MANAGERS: readonly OrganizationRole[] = [OrganizationRole.OWNER, OrganizationRole.ADMIN];
