import { hash } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { AuthConfig } from '../config.js';
import { isDomainError, unauthenticated } from '../core/errors.js';
import { isStorableText as storable } from '../core/validation.js';
import type { VerifiedIdentity } from '../identity/identity.js';

export type TokenVerifier = (token: string) => Promise<VerifiedIdentity>;

const CLOCK_TOLERANCE_SECONDS = 5;
const MAX_TOKEN_LENGTH = 8192;
const CACHE_SECONDS = 300;


/** A profile claim, when it is usable text; anything else is left out (the user is still signed in). */
const optionalString = (payload: JWTPayload, ...names: string[]): string | undefined => {
  for (const name of names) {
    const value = payload[name];
    if (typeof value === 'string' && value.length > 0 && value.length <= 512 && storable(value)) return value;
  }
  return undefined;
};

/**
 * Clerk's `azp` (authorized party): the origin the token was issued to. With AUTH_AUTHORIZED_PARTIES set, a token
 * naming another origin is refused; a token without the claim (a backend's) is accepted, as Clerk's own SDKs do.
 */
function checkAuthorizedParty(payload: JWTPayload, parties: readonly string[] | undefined) {
  if (!parties || payload.azp === undefined) return;
  if (typeof payload.azp !== 'string' || !parties.includes(payload.azp)) throw unauthenticated('Token claim rejected: azp');
}

function identityFrom(payload: JWTPayload): VerifiedIdentity {
  const subject = payload.sub;
  // Two subjects that differ only in a lone surrogate would be stored as the same text: one user for two people.
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > 255 || !storable(subject)) {
    throw unauthenticated('Token has no usable subject');
  }
  return {
    subject,
    expiresAt: typeof payload.exp === 'number' ? payload.exp + CLOCK_TOLERANCE_SECONDS : undefined,
    email: optionalString(payload, 'email'),
    firstName: optionalString(payload, 'given_name', 'first_name'),
    lastName: optionalString(payload, 'family_name', 'last_name'),
    imageUrl: optionalString(payload, 'picture', 'image_url'),
  };
}

/**
 * Verifies bearer tokens: HS256 against AUTH_JWT_SECRET, RS256 against AUTH_JWKS_URL (Clerk). Each key is used only
 * with its own algorithm, so `alg: none` and algorithm confusion (an HS256 token signed with the public key) fail.
 */
export function createTokenVerifier(auth: AuthConfig): TokenVerifier {
  // Imported once: handing jose raw bytes would import the HMAC key again on every request.
  const secret = auth.jwtSecret
    ? crypto.subtle.importKey('raw', new TextEncoder().encode(auth.jwtSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    : undefined;
  const jwks = auth.jwksUrl ? createRemoteJWKSet(new URL(auth.jwksUrl), { cooldownDuration: 30_000 }) : undefined;
  // A token without `exp` would be valid forever: refused. `nbf` is honoured whenever present.
  const common = {
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    requiredClaims: ['exp'],
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  };

  const verify = async (token: string): Promise<{ identity: VerifiedIdentity; payload: JWTPayload }> => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthenticated('Malformed token');
    }
    try {
      if (alg === 'HS256' && secret) {
        const { payload } = await jwtVerify(token, await secret, { ...common, algorithms: ['HS256'] });
        checkAuthorizedParty(payload, auth.authorizedParties);
        return { identity: identityFrom(payload), payload };
      }
      if (alg === 'RS256' && jwks) {
        const { payload } = await jwtVerify(token, jwks, { ...common, algorithms: ['RS256'] });
        checkAuthorizedParty(payload, auth.authorizedParties);
        return { identity: identityFrom(payload), payload };
      }
    } catch (error) {
      if (isDomainError(error)) throw error;
      throw unauthenticated(describeJoseError(error));
    }
    throw unauthenticated(`Tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
  };

  const verified = new VerifiedTokens();
  return async (token) => {
    if (token.length > MAX_TOKEN_LENGTH) throw unauthenticated('Token is too long');
    const now = Date.now() / 1000;
    const key = VerifiedTokens.keyOf(token);
    const cached = verified.get(key, now);
    if (cached) return cached;
    const { identity, payload } = await verify(token);
    if (typeof payload.exp === 'number') verified.set(key, identity, Math.min(payload.exp + CLOCK_TOLERANCE_SECONDS, now + CACHE_SECONDS));
    return identity;
  };
}

/**
 * Verified tokens, remembered until their exp (at most CACHE_SECONDS). A client sends the same token with every
 * request until it expires (Clerk's live for a minute), and the same bytes always verify the same way, so the
 * signature check (and its trip through the crypto thread pool) stays off the hot path.
 *
 * Keyed by the token's SHA-256 rather than its text: a Clerk token is about a kilobyte, its digest 43 characters, so
 * `maxEntries` (one per active session, 50,000 by default, as many as the viewer cache) costs megabytes, not tens of
 * them. When full, the entry stored first leaves. The bound must exceed the sessions active at once: a client cycling
 * through more tokens than the cache holds would find each one evicted just before its turn and pay the full check
 * on every request (as sessions past the old bound of 10,000 would have).
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, { identity: VerifiedIdentity; until: number }>();

  constructor(private readonly maxEntries = 50_000) {}

  static keyOf(token: string): string {
    return hash('sha256', token, 'base64url');
  }

  /** The identity `key`'s token verified to, while `now` (seconds) is before its end. */
  get(key: string, now: number): VerifiedIdentity | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now < entry.until) return entry.identity;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, identity: VerifiedIdentity, until: number): void {
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { identity, until });
  }

  get size(): number {
    return this.entries.size;
  }
}

function describeJoseError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'Token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const { claim, reason } = error as { claim?: string; reason?: string };
      return reason === 'missing' ? `Token has no ${claim ?? 'required'} claim` : `Token claim rejected: ${claim ?? 'unknown'}`;
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'Token signature is invalid';
    default:
      return 'Invalid token';
  }
}

/** Signs an HS256 token, for the development banner and local tooling. */
export async function issueHs256Token(secret: string, subject: string, claims: JWTPayload = {}, ttl = '30d') {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(new TextEncoder().encode(secret));
}
