import { randomBytes } from 'node:crypto';
import { MeDocument } from '../generated/graphql.js';
import type { TestServer } from './server.js';

/** Who is who in the tests: token subjects, and the users they become. */

/** The admin of test servers that set ADMIN_USER_IDS to it. */
export const ADMIN_SUB = 'user_api_admin';

/** A `sub` no other test uses, so one server can serve many independent scenarios. */
export const uniqueSub = (label: string) => `user_${label}_${randomBytes(5).toString('hex')}`;

/** Provisions (or finds) the user behind `subject`, through the API, and returns their usr_ id. */
export async function userIdOf(server: TestServer, subject: string): Promise<string> {
  const res = await server.as(subject).execute(MeDocument);
  if (!res.data?.me) throw new Error(`me failed for ${subject}: ${JSON.stringify(res.errors)}`);
  return res.data.me.id;
}
