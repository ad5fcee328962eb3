import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { AuthConfig } from '../config.js';
import { isDomainError, unauthenticated } from '../core/errors.js';
import type { VerifiedIdentity } from '../identity/identity.js';

export type TokenVerifier = (token: string) => Promise<VerifiedIdentity>;

const CLOCK_TOLERANCE_SECONDS = 5;
const MAX_TOKEN_LENGTH = 8192;
const MAX_CACHED_TOKENS = 10_000;
const CACHE_SECONDS = 300;

const optionalString = (payload: JWTPayload, ...names: string[]): string | undefined => {
  for (const name of names) {
    const value = payload[name];
    if (typeof value === 'string' && value.length > 0 && value.length <= 512) return value;
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
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > 255) {
    throw unauthenticated('Token has no usable subject');
  }
  return {
    subject,
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

  // A client sends the same token with every request until it expires (Clerk's live for a minute), so a verified
  // token is remembered by its exact text until its exp (at most CACHE_SECONDS): the same bytes always verify the
  // same way, and the signature check stays off the hot path.
  const verified = new Map<string, { identity: VerifiedIdentity; until: number }>();
  return async (token) => {
    if (token.length > MAX_TOKEN_LENGTH) throw unauthenticated('Token is too long');
    const now = Date.now() / 1000;
    const cached = verified.get(token);
    if (cached && now < cached.until) return cached.identity;
    if (cached) verified.delete(token);
    const { identity, payload } = await verify(token);
    if (typeof payload.exp === 'number') {
      if (verified.size >= MAX_CACHED_TOKENS) verified.delete(verified.keys().next().value!);
      verified.set(token, { identity, until: Math.min(payload.exp + CLOCK_TOLERANCE_SECONDS, now + CACHE_SECONDS) });
    }
    return identity;
  };
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
