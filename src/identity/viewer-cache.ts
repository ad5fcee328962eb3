import type { VerifiedIdentity } from './identity.js';

/** What a verified token maps to, once its user exists: the user's (and so the personal account's) id. */
export interface CachedViewer {
  id: string;
  clerkUserId: string;
}

interface Entry extends CachedViewer {
  /** The profile claims the stored profile had when cached: other claims mean the profile must be refreshed. */
  claims: string;
  expiresAt: number;
}

const claimsOf = (identity: VerifiedIdentity) => JSON.stringify([identity.email, identity.firstName, identity.lastName, identity.imageUrl]);

/**
 * Token subject -> user id, per process. A subject's user id never changes once provisioned, so a request whose
 * token carries the same profile claims as when its user was last read needs no viewer lookup at all: the lookup
 * leaves the path of every request but the first (and one per `ttlMs`, which bounds how long a user deleted in the
 * database keeps being served), and a token with changed claims goes through provisioning, which stores them. At
 * most `maxEntries` subjects are kept, the least recently used leaving first.
 */
export class ViewerCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 50_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(identity: VerifiedIdentity): CachedViewer | undefined {
    if (this.ttlMs <= 0) return undefined;
    const entry = this.entries.get(identity.subject);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now() || entry.claims !== claimsOf(identity)) {
      this.entries.delete(identity.subject);
      return undefined;
    }
    // Most recently used last: a Map iterates in insertion order, so the first key is the one to evict.
    this.entries.delete(identity.subject);
    this.entries.set(identity.subject, entry);
    return { id: entry.id, clerkUserId: entry.clerkUserId };
  }

  set(identity: VerifiedIdentity, viewer: CachedViewer): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(identity.subject);
    this.entries.set(identity.subject, { ...viewer, claims: claimsOf(identity), expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
