import { gql } from '../api.js';
import { fieldsOf, leafSelection, namedType } from '../capabilities.js';
import type { Person } from '../format.js';

/** One account, a user's or an organization's, as the console's pages read it. */
export interface Account {
  kind: 'user' | 'organization';
  id: string;
  name: string;
  creditBalance: number;
  heldCredits: number;
  spendableCredits: number;
  expiringCredits: number;
  planTier: string;
  createdAt: string;
  /** Plan and subscription fields this server has (subscriptionStatus, currentPeriodEnd, ...), as they came. */
  plan: Record<string, unknown>;
  email?: string | null;
  clerkUserId?: string;
  company?: string | null;
  roles?: string[];
  stripeCustomerId?: string | null;
  organizations?: { id: string; name: string }[];
  members?: Member[];
  membersTruncated?: boolean;
}

export interface Member {
  role: string;
  monthlySpendLimit: number | null;
  spentThisMonth: number;
  heldCredits: number;
  user: Person;
}

/** The account's own field on Query, and the name of its ledger connection. */
export const rootField = (kind: Account['kind']) => (kind === 'user' ? 'user' : 'organization');
export const ledgerField = (kind: Account['kind']) => (kind === 'user' ? 'creditTransactions' : 'creditHistory');

/** Arguments naming the account, for the queries and mutations that take userId or organizationId. */
export const accountArgs = (account: Pick<Account, 'kind' | 'id'>): Record<string, string> =>
  account.kind === 'user' ? { userId: account.id } : { organizationId: account.id };

/** The plan fields of this server's schema (planTier always; subscription fields where they exist). */
function planSelection(kind: Account['kind']): string {
  const typeName = kind === 'user' ? 'User' : 'Organization';
  return fieldsOf(typeName)
    .filter((field) => field.name !== 'planTier' && field.args.every((arg) => !arg.type.endsWith('!')))
    .map((field) => (field.leaf ? field.name : `${field.name} { ${leafSelection(namedType(field.type), 0) || '__typename'} }`))
    .join(' ');
}

const BALANCES = 'id creditBalance heldCredits spendableCredits expiringCredits planTier createdAt';

export async function loadAccount(kind: Account['kind'], id: string): Promise<Account | null> {
  const plan = planSelection(kind);
  if (kind === 'user') {
    const data = await gql<{ user: (Omit<Account, 'kind' | 'name' | 'plan'> & Person & Record<string, unknown>) | null }>(
      `query ConsoleUser($id: ID!) { user(id: $id) { ${BALANCES} email firstName lastName clerkUserId company roles stripeCustomerId organizations { id name } ${plan} } }`,
      { id },
    );
    if (!data.user) return null;
    const user = data.user;
    const name = [user.firstName, user.lastName].filter(Boolean).join(' ') || user.email || user.id;
    return { ...user, kind, name, plan: pickPlan(user) } as Account;
  }
  const data = await gql<{ organization: (Omit<Account, 'kind' | 'plan' | 'members'> & Record<string, unknown> & { members: { edges: { node: Member }[]; pageInfo: { hasNextPage: boolean } } }) | null }>(
    `query ConsoleOrganization($id: ID!) { organization(id: $id) { ${BALANCES} name ${plan}
      members(first: 100) { edges { node { role monthlySpendLimit spentThisMonth heldCredits user { id email firstName lastName } } } pageInfo { hasNextPage } } } }`,
    { id },
  );
  if (!data.organization) return null;
  const org = data.organization;
  return {
    ...org,
    kind,
    plan: pickPlan(org),
    members: org.members.edges.map((edge) => edge.node),
    membersTruncated: org.members.pageInfo.hasNextPage,
  } as Account;
}

const PLAN_FIELDS = ['subscriptionStatus', 'currentPeriodEnd', 'cancelAtPeriodEnd', 'allowance', 'plan'];
const pickPlan = (row: Record<string, unknown>) => Object.fromEntries(PLAN_FIELDS.filter((name) => name in row).map((name) => [name, row[name]]));
