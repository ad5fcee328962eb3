import { print } from 'graphql';
import type pg from 'pg';
import { ConsumeCreditsDocument, CreditBalanceDocument } from '../generated/graphql.js';
import { tokenFor } from './tokens.js';

/**
 * consumeCredits traffic against a server that may die, or lose its database, under it; every request's fate is
 * recorded so that the ledger can be checked against what clients were told.
 */
export type Outcome =
  | { kind: 'success'; id: string; balanceAfter: number }
  | { kind: 'error'; code: string; message: string; status: number }
  /** No HTTP answer: the connection failed or was cut, or nothing came back within the bound. */
  | { kind: 'no-answer'; reason: string };

export interface ConsumeAttempt {
  subject: string;
  idempotencyKey: string;
  amount: number;
  outcome: Outcome;
  elapsedMs: number;
}

/** Errors after which the ledger must hold nothing for the key: the server decided, with its database up. */
export const DEFINITIVE_ERRORS = new Set(['INSUFFICIENT_CREDITS', 'IDEMPOTENCY_CONFLICT', 'BAD_USER_INPUT', 'UNAUTHENTICATED']);

const CONSUME = print(ConsumeCreditsDocument);
const BALANCE = print(CreditBalanceDocument);
export const LOAD_FEATURE = 'fault_test';

export async function postGraphQL(url: string, subject: string, query: string, variables: Record<string, unknown>, timeoutMs: number): Promise<Outcome> {
  const token = await tokenFor(subject);
  let response: Response;
  try {
    response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return { kind: 'no-answer', reason: String((error as Error).cause ?? (error as Error).message) };
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    return { kind: 'no-answer', reason: `body cut off: ${String(error)}` };
  }
  let body: { data?: Record<string, { id?: string; balanceAfter?: number } | number | null> | null; errors?: { message: string; extensions?: { code?: string } }[] };
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'error', code: `HTTP ${response.status}`, message: text.slice(0, 500), status: response.status };
  }
  const error = body.errors?.[0];
  if (error) return { kind: 'error', code: error.extensions?.code ?? 'NO_CODE', message: error.message, status: response.status };
  const field = body.data ? Object.values(body.data)[0] : undefined;
  if (typeof field === 'object' && field?.id) return { kind: 'success', id: field.id, balanceAfter: field.balanceAfter ?? -1 };
  return { kind: 'success', id: '', balanceAfter: typeof field === 'number' ? field : -1 };
}

export async function consumeOnce(url: string, subject: string, idempotencyKey: string, amount: number, timeoutMs = 15_000): Promise<ConsumeAttempt> {
  const started = Date.now();
  const outcome = await postGraphQL(url, subject, CONSUME, { input: { amount, feature: LOAD_FEATURE, idempotencyKey } }, timeoutMs);
  return { subject, idempotencyKey, amount, outcome, elapsedMs: Date.now() - started };
}

/** The first authenticated request provisions the user (with the server's STARTER_CREDITS). */
export async function provision(url: string, subject: string): Promise<void> {
  const outcome = await postGraphQL(url, subject, BALANCE, {}, 15_000);
  if (outcome.kind !== 'success') throw new Error(`could not provision ${subject}: ${JSON.stringify(outcome)}`);
}

export interface LoadClient {
  subject: string;
  amount: number;
}

/** N clients, each sending consumeCredits with a new key as soon as the last one answered. */
export class ConsumeLoad {
  readonly attempts: ConsumeAttempt[] = [];
  inFlight = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly url: string,
    private readonly label: string,
    private readonly options: { stopOnNoAnswer: boolean; pauseAfterErrorMs?: number; timeoutMs?: number },
  ) {}

  start(clients: LoadClient[]): this {
    this.loops = clients.map((client, index) => this.loop(client, index));
    return this;
  }

  count(kind: Outcome['kind']): number {
    return this.attempts.filter((a) => a.outcome.kind === kind).length;
  }

  async stop(): Promise<ConsumeAttempt[]> {
    this.stopping = true;
    await Promise.all(this.loops);
    return this.attempts;
  }

  private async loop(client: LoadClient, index: number) {
    for (let n = 1; !this.stopping; n++) {
      this.inFlight++;
      const attempt = await consumeOnce(this.url, client.subject, `${this.label}-c${index}-${n}`, client.amount, this.options.timeoutMs);
      this.inFlight--;
      this.attempts.push(attempt);
      if (attempt.outcome.kind === 'no-answer' && this.options.stopOnNoAnswer) return;
      if (attempt.outcome.kind !== 'success' && this.options.pauseAfterErrorMs) {
        await new Promise((resolve) => setTimeout(resolve, this.options.pauseAfterErrorMs));
      }
    }
  }
}

export interface LedgerRowByKey {
  id: string;
  user_id: string;
  idempotency_key: string;
  amount: number;
  status: string;
}

/** Rows of these keys, read straight from the table. */
export async function rowsByKey(sql: pg.Pool, keys: string[]): Promise<Map<string, LedgerRowByKey[]>> {
  const { rows } = await sql.query<LedgerRowByKey>(
    'select id, account_id, idempotency_key, amount, status from credit_transactions where idempotency_key = any($1::text[])',
    [keys],
  );
  const byKey = new Map<string, LedgerRowByKey[]>(keys.map((key) => [key, []]));
  for (const row of rows) byKey.get(row.idempotency_key)?.push(row);
  return byKey;
}

/**
 * What the ledger must show for what clients were told: a success is there (by id, once), a definitive refusal
 * left nothing, and anything unanswered or unavailable is there once or not at all. Returns every mismatch.
 */
export async function outcomeMismatches(sql: pg.Pool, attempts: ConsumeAttempt[]): Promise<string[]> {
  const byKey = await rowsByKey(sql, attempts.map((a) => a.idempotencyKey));
  const problems: string[] = [];
  for (const attempt of attempts) {
    const rows = byKey.get(attempt.idempotencyKey) ?? [];
    const { outcome } = attempt;
    if (rows.length > 1) problems.push(`${attempt.idempotencyKey}: ${rows.length} rows`);
    if (outcome.kind === 'success') {
      if (rows.length !== 1 || rows[0]!.id !== outcome.id) problems.push(`${attempt.idempotencyKey}: answered ${outcome.id} but the ledger has ${JSON.stringify(rows)}`);
      else if (rows[0]!.amount !== -attempt.amount || rows[0]!.status !== 'completed') problems.push(`${attempt.idempotencyKey}: row ${JSON.stringify(rows[0])}`);
    } else if (outcome.kind === 'error' && DEFINITIVE_ERRORS.has(outcome.code) && rows.length > 0) {
      problems.push(`${attempt.idempotencyKey}: answered ${outcome.code} but the ledger has ${rows.map((r) => r.id).join(', ')}`);
    }
  }
  return problems;
}

/** Attempts whose effect the client cannot know: no answer, or an error that is not a decision. */
export const undecided = (attempts: ConsumeAttempt[]) =>
  attempts.filter((a) => a.outcome.kind === 'no-answer' || (a.outcome.kind === 'error' && !DEFINITIVE_ERRORS.has(a.outcome.code)));

/**
 * Retries each undecided attempt with its key and input, as a client should. A retry must settle it: success with
 * the id of the row already there if the first try was applied, or a definitive refusal when nothing was written
 * (a user who ran dry meanwhile). Afterwards a key has exactly the rows its final answer says.
 */
export async function retryUndecided(url: string, sql: pg.Pool, attempts: ConsumeAttempt[]): Promise<string[]> {
  const pending = undecided(attempts);
  const keys = pending.map((a) => a.idempotencyKey);
  const before = await rowsByKey(sql, keys);
  const retries = await Promise.all(pending.map((a) => consumeOnce(url, a.subject, a.idempotencyKey, a.amount)));
  const after = await rowsByKey(sql, keys);
  const problems: string[] = [];
  for (const retry of retries) {
    const earlier = before.get(retry.idempotencyKey) ?? [];
    const now = after.get(retry.idempotencyKey) ?? [];
    const { outcome } = retry;
    if (outcome.kind === 'success') {
      if (earlier[0] && earlier[0].id !== outcome.id) problems.push(`retry of ${retry.idempotencyKey} answered ${outcome.id}, the first try wrote ${earlier[0].id}`);
      if (now.length !== 1 || now[0]!.id !== outcome.id) problems.push(`retry of ${retry.idempotencyKey} answered ${outcome.id}, the ledger has ${JSON.stringify(now)}`);
    } else if (outcome.kind === 'error' && DEFINITIVE_ERRORS.has(outcome.code)) {
      if (earlier.length > 0 || now.length > 0) problems.push(`retry of ${retry.idempotencyKey} answered ${outcome.code}, the ledger has ${JSON.stringify(now)}`);
    } else {
      problems.push(`retry of ${retry.idempotencyKey} did not settle: ${JSON.stringify(outcome)}`);
    }
  }
  return problems;
}
