/**
 * Whose credits a request spends, and who is spending them: a user's own account (its id is the user's), or an
 * organization's wallet with one of its members spending from it (held to their monthly limit).
 */
export interface Spender {
  accountId: string;
  actorId: string;
  asMember: boolean;
}

export const personalSpender = (userId: string): Spender => ({ accountId: userId, actorId: userId, asMember: false });

export const memberSpender = (organizationId: string, userId: string): Spender => ({ accountId: organizationId, actorId: userId, asMember: true });

/** The spender of a request: the viewer's own account, or the organization named by `organizationId`. */
export const spenderOf = (userId: string, organizationId?: string | null): Spender =>
  organizationId ? memberSpender(organizationId, userId) : personalSpender(userId);
