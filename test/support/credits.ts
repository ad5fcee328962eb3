import { randomBytes } from 'node:crypto';
import { sweepExpired } from '../../src/credits/expiry.js';
import { CaptureReservationDocument, GrantExpiringCreditsDocument, ReleaseReservationDocument, ReserveCreditsDocument } from '../generated/graphql.js';
import type { TestServer } from './server.js';
import { ADMIN_SUB } from './subjects.js';

/** Driving credits through the API: keys, times, expiring grants, holds and the expiry sweep. */

export const key = (label: string) => `${label}-${randomBytes(5).toString('hex')}`;

export const inHours = (hours: number, from = new Date()) => new Date(from.getTime() + hours * 3_600_000);

export const grantExpiring = (server: TestServer, userId: string, amount: number, expiresAt: Date | null, idempotencyKey = key('grant')) =>
  server.as(ADMIN_SUB).execute(GrantExpiringCreditsDocument, {
    input: { userId, amount, reason: 'test grant', idempotencyKey, expiresAt: expiresAt?.toISOString() ?? null },
  });

export const reserve = (server: TestServer, sub: string, amount: number, options: { key?: string; ttlSeconds?: number; feature?: string } = {}) =>
  server.as(sub).execute(ReserveCreditsDocument, {
    input: { amount, feature: options.feature ?? 'llm.run', idempotencyKey: options.key ?? key('hold'), ttlSeconds: options.ttlSeconds ?? 3600 },
  });

export const capture = (server: TestServer, sub: string, id: string, amount: number) =>
  server.as(sub).execute(CaptureReservationDocument, { id, amount });

export const release = (server: TestServer, sub: string, id: string) => server.as(sub).execute(ReleaseReservationDocument, { id });

/** The expiry sweep against the server's database, as of `now`. */
export const sweep = (server: TestServer, now: Date) => sweepExpired(server.orm.em.fork(), now);
