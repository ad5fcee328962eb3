/** What a verified token tells us about its bearer (graphql/auth.ts verifies; provisioning.ts acts on it). */
export interface VerifiedIdentity {
  /** The token's `sub`: the user's clerkUserId. */
  subject: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  imageUrl?: string;
  /** When the token stops being accepted (its `exp` plus the clock tolerance), in seconds since the epoch: a live socket opened with it closes then. */
  expiresAt?: number;
}
