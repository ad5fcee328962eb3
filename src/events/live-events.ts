import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { LiveEvent, LiveEventSource } from '../core/context.js';
import { pgTextArray, type Row } from '../database/rows.js';
import type { Logger } from '../logger.js';

/** The channel the dispatcher announces dispatched events on (dispatcher.ts), one NOTIFY per batch. */
export const LIVE_CHANNEL = 'tally_events';

/** A NOTIFY payload: [accountId, seq] of each event (PostgreSQL caps a payload at 8,000 bytes; the dispatcher splits). */
export type LiveAnnouncement = [string, string][];

/**
 * Every instance's view of committed events, for live updates (the creditBalanceChanged subscription). The
 * dispatcher on whichever instance fans events out announces them with one NOTIFY per batch, in its transaction (so
 * only committed events are announced); each instance LISTENs on one connection of its own and reads the events of
 * the accounts someone is watching here. A consumption made through instance B thus reaches a client connected to
 * instance A, within the dispatcher's interval. The connection is re-opened after a failure.
 */
export class LiveEvents implements LiveEventSource {
  private client: pg.Client | undefined;
  private readonly listeners = new Map<string, Set<(event: LiveEvent) => void>>();
  private stopped = false;
  private reconnect: NodeJS.Timeout | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly log: Logger,
    /** Reads events by account and number: a pool of the application's (not the LISTEN connection, which only listens). */
    private readonly read: (accountIds: string[], seqs: string[]) => Promise<LiveEvent[]>,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('notification', (message) => {
      if (message.channel === LIVE_CHANNEL && message.payload) void this.announced(message.payload);
    });
    client.on('error', (error) => {
      this.log.warn({ err: error }, 'live events: the LISTEN connection failed; reconnecting');
      this.client = undefined;
      client.end().catch(() => undefined);
      this.scheduleReconnect();
    });
    await client.connect();
    await client.query(`listen ${LIVE_CHANNEL}`);
    this.client = client;
  }

  private scheduleReconnect() {
    if (this.stopped || this.reconnect) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      this.start().catch((error: unknown) => {
        this.log.warn({ err: error }, 'live events: reconnecting failed; trying again');
        this.scheduleReconnect();
      });
    }, 1_000);
    this.reconnect.unref();
  }

  subscribe(accountId: string, listener: (event: LiveEvent) => void): () => void {
    let set = this.listeners.get(accountId);
    if (!set) this.listeners.set(accountId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(accountId);
    };
  }

  /** How many subscriptions are open on this instance. */
  get size(): number {
    let total = 0;
    for (const set of this.listeners.values()) total += set.size;
    return total;
  }

  private async announced(payload: string) {
    let entries: LiveAnnouncement;
    try {
      entries = JSON.parse(payload) as LiveAnnouncement;
    } catch {
      return;
    }
    const watched = entries.filter(([accountId]) => this.listeners.has(accountId));
    if (watched.length === 0) return;
    try {
      const events = await this.read(
        watched.map(([accountId]) => accountId),
        watched.map(([, seq]) => seq),
      );
      for (const event of events) for (const listener of this.listeners.get(event.accountId) ?? []) listener(event);
    } catch (error) {
      this.log.warn({ err: error }, 'live events: reading announced events failed');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnect);
    this.listeners.clear();
    await this.client?.end().catch(() => undefined);
  }
}

/** Splits an announcement so that each NOTIFY payload stays under PostgreSQL's 8,000-byte limit. */
export function announcements(entries: LiveAnnouncement, maxBytes = 7_500): string[] {
  const payloads: string[] = [];
  let batch: LiveAnnouncement = [];
  let size = 2;
  for (const entry of entries) {
    const length = JSON.stringify(entry).length + 1;
    if (batch.length > 0 && size + length > maxBytes) {
      payloads.push(JSON.stringify(batch));
      batch = [];
      size = 2;
    }
    batch.push(entry);
    size += length;
  }
  if (batch.length > 0) payloads.push(JSON.stringify(batch));
  return payloads;
}

/** Starts this instance's live events: the LISTEN connection, and reads of announced events through `orm`'s pool. */
export async function startLiveEvents(orm: MikroORM, log: Logger): Promise<LiveEvents> {
  const live = new LiveEvents(String(orm.config.get('clientUrl')), log, async (accountIds, seqs) => {
    const rows = await orm.em.fork().execute<Row[]>(
      `select e.account_id, e.seq, e.type, e.payload from events e
       join unnest(?::text[], ?::bigint[]) as wanted (account_id, seq) on e.account_id = wanted.account_id and e.seq = wanted.seq
       order by e.account_id, e.seq`,
      [pgTextArray(accountIds), `{${seqs.join(',')}}`],
    );
    return rows.map((row) => ({ accountId: String(row.account_id), seq: String(row.seq), type: String(row.type), payload: row.payload as Record<string, unknown> }));
  });
  await live.start();
  return live;
}
