import { gql } from '../api.js';
import { h, s, uid, type Child } from '../dom.js';
import { count, credits, dateTime, day } from '../format.js';
import { accountArgs, ledgerField, rootField, type Account } from './account-data.js';

export interface Range {
  label: string;
  days: number;
  window: 'DAY' | 'WEEK' | 'MONTH';
}

export const RANGES: Range[] = [
  { label: 'Last 7 days', days: 7, window: 'DAY' },
  { label: 'Last 30 days', days: 30, window: 'DAY' },
  { label: 'Last 90 days', days: 90, window: 'WEEK' },
  { label: 'Last 365 days', days: 365, window: 'MONTH' },
];

export interface Point {
  time: number;
  balance: number;
}

/** The drawing's width in CSS pixels: the space it is given, so that its labels keep their size on a phone. */
const chartWidth = (available: number) => Math.round(Math.max(300, Math.min(1000, available || 720)));
const HEIGHT = 240;
const MARGIN = { top: 16, right: 24, bottom: 32, left: 56 };
/** Beyond this many ledger rows in the range, the chart samples the balance instead of drawing every change. */
const MAX_EXACT_ROWS = 500;
const SAMPLES = 30;

interface LedgerPage {
  edges: { node: { balanceAfter: number; effectiveAt: string | null; createdAt: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/**
 * The balance over [from, now]: the balance at `from` (creditBalanceAt), then every completed row's balanceAfter
 * where it took effect, ending now at the newest one's (the current balance). With more rows than a chart can
 * show, the balance at evenly spaced times instead (creditBalanceAt, ten to a request).
 */
export async function balanceSeries(account: Account, from: Date, now: Date): Promise<{ points: Point[]; sampled: boolean }> {
  const args = accountArgs(account);
  const root = rootField(account.kind);
  const ledger = ledgerField(account.kind);
  const { start } = await gql<{ start: number }>(
    `query ConsoleBalanceAt($userId: ID, $organizationId: ID, $time: DateTime!) { start: creditBalanceAt(userId: $userId, organizationId: $organizationId, time: $time) }`,
    { ...args, time: from.toISOString() },
  );
  const rows: LedgerPage['edges'][number]['node'][] = [];
  let after: string | null = null;
  let more = true;
  while (more && rows.length < MAX_EXACT_ROWS) {
    const data: Record<string, Record<string, LedgerPage> | null> = await gql(
      `query ConsoleBalanceRows($id: ID!, $from: DateTime!, $after: String) { ${root}(id: $id) {
        ${ledger}(first: 100, after: $after, filter: { status: COMPLETED, from: $from }) { edges { node { balanceAfter effectiveAt createdAt } } pageInfo { hasNextPage endCursor } } } }`,
      { id: account.id, from: from.toISOString(), after },
    );
    const page: LedgerPage = data[root]![ledger]!;
    rows.push(...page.edges.map((edge) => edge.node));
    more = page.pageInfo.hasNextPage;
    after = page.pageInfo.endCursor;
  }
  if (!more) {
    const changes = rows.reverse().map((row) => ({ time: Date.parse(row.effectiveAt ?? row.createdAt), balance: row.balanceAfter }));
    const last = changes.at(-1)?.balance ?? start;
    return { points: [{ time: from.getTime(), balance: start }, ...changes, { time: now.getTime(), balance: last }], sampled: false };
  }
  const times = Array.from({ length: SAMPLES + 1 }, (_, i) => new Date(from.getTime() + ((now.getTime() - from.getTime()) * i) / SAMPLES));
  const points: Point[] = [];
  for (let offset = 0; offset < times.length; offset += 10) {
    const chunk = times.slice(offset, offset + 10);
    const variables: Record<string, unknown> = { ...args };
    const fields = chunk.map((time, i) => {
      variables[`t${i}`] = time.toISOString();
      return `p${i}: creditBalanceAt(userId: $userId, organizationId: $organizationId, time: $t${i})`;
    });
    const declarations = chunk.map((_, i) => `$t${i}: DateTime!`).join(', ');
    const data = await gql<Record<string, number>>(`query ConsoleBalanceSamples($userId: ID, $organizationId: ID, ${declarations}) { ${fields.join(' ')} }`, variables);
    chunk.forEach((time, i) => points.push({ time: time.getTime(), balance: data[`p${i}`]! }));
  }
  return { points, sampled: true };
}

function niceMax(value: number): number {
  if (value <= 0) return 10;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/** A step line of the balance, with its axes, its last point marked and a data table for those who do not see it. */
export function balanceChart(points: Point[], options: { sampled: boolean; from: Date; now: Date; width: number }): HTMLElement {
  const WIDTH = chartWidth(options.width);
  const first = points[0]!;
  const last = points.at(-1)!;
  const values = points.map((point) => point.balance);
  const max = niceMax(Math.max(...values));
  const x0 = options.from.getTime();
  const span = Math.max(1, options.now.getTime() - x0);
  const x = (time: number) => MARGIN.left + ((time - x0) / span) * (WIDTH - MARGIN.left - MARGIN.right);
  const y = (value: number) => HEIGHT - MARGIN.bottom - (value / max) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  let path = `M${x(first.time).toFixed(1)},${y(first.balance).toFixed(1)}`;
  for (const point of points.slice(1)) {
    path += options.sampled ? ` L${x(point.time).toFixed(1)},${y(point.balance).toFixed(1)}` : ` H${x(point.time).toFixed(1)} V${y(point.balance).toFixed(1)}`;
  }
  const ticks = [0, max / 2, max];
  const summary = `Balance from ${day(options.from)} to ${day(options.now)}: ${count(first.balance)} at the start, ${count(last.balance)} now; lowest ${count(Math.min(...values))}, highest ${count(Math.max(...values))}.`;
  const titleId = uid('chart-title');
  const svg = s(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': titleId, class: 'chart', 'data-last-balance': last.balance, 'data-points': points.length },
    s('title', { id: titleId }, summary),
    ticks.map((tick) => [
      s('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick), class: 'grid' }),
      s('text', { x: MARGIN.left - 8, y: y(tick) + 4, 'text-anchor': 'end', class: 'tick' }, count(tick)),
    ]),
    s('text', { x: MARGIN.left, y: HEIGHT - 8, class: 'tick' }, day(options.from)),
    s('text', { x: WIDTH - MARGIN.right, y: HEIGHT - 8, 'text-anchor': 'end', class: 'tick' }, day(options.now)),
    s('path', { d: path, class: 'line' }),
    s('circle', { cx: x(last.time), cy: y(last.balance), r: 4, class: 'last-point' }),
  );
  return h(
    'figure',
    { class: 'chart-figure' },
    svg,
    h('figcaption', {}, h('span', { class: 'last-balance' }, `Now: ${credits(last.balance)}`), options.sampled ? ' (sampled: too many changes to draw each)' : ''),
    dataTable('Balance data', ['Time', 'Balance'], points.map((point) => [dateTime(new Date(point.time).toISOString()), count(point.balance)])),
  );
}

function dataTable(title: string, headers: string[], rows: string[][]): HTMLElement {
  return h(
    'details',
    { class: 'chart-data' },
    h('summary', {}, `${title} (${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`),
    h(
      'div',
      { class: 'table-wrap', role: 'region', 'aria-label': title, tabindex: 0 },
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, headers.map((header) => h('th', { scope: 'col' }, header)))),
        h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell))))),
      ),
    ),
  );
}

export interface UsageBucket {
  start: string;
  feature: string;
  credits: number;
  count: number;
}

export async function loadUsage(account: Account, from: Date, to: Date, window: Range['window']): Promise<UsageBucket[]> {
  const { creditUsage } = await gql<{ creditUsage: UsageBucket[] }>(
    `query ConsoleUsage($userId: ID, $organizationId: ID, $from: DateTime!, $to: DateTime!, $window: UsageWindow!) {
      creditUsage(userId: $userId, organizationId: $organizationId, from: $from, to: $to, window: $window) { start feature credits count } }`,
    { ...accountArgs(account), from: from.toISOString(), to: to.toISOString(), window },
  );
  return creditUsage;
}

/** Colours that keep 3:1 against the white panel, told apart by the legend's names too. */
const PALETTE = ['#1d5fa8', '#b5470b', '#2e7d32', '#7b3fa0', '#a0224a', '#00717a', '#6b5800', '#4a4a4a'];

/** Credits consumed per window, stacked by feature, with a legend of totals and a data table. */
export function usageChart(buckets: UsageBucket[], window: Range['window'], width: number): Child {
  const WIDTH = chartWidth(width);
  if (buckets.length === 0) return h('p', { class: 'empty' }, 'No credits were consumed in this range.');
  const totals = new Map<string, number>();
  for (const bucket of buckets) totals.set(bucket.feature, (totals.get(bucket.feature) ?? 0) + bucket.credits);
  const features = [...totals.keys()].sort((a, b) => totals.get(b)! - totals.get(a)! || a.localeCompare(b));
  const colour = (feature: string) => PALETTE[features.indexOf(feature) % PALETTE.length]!;
  const starts = [...new Set(buckets.map((bucket) => bucket.start))].sort();
  const perStart = new Map(starts.map((start) => [start, buckets.filter((bucket) => bucket.start === start)]));
  const max = niceMax(Math.max(...starts.map((start) => perStart.get(start)!.reduce((sum, bucket) => sum + bucket.credits, 0))));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const slot = plotWidth / starts.length;
  const barWidth = Math.max(2, Math.min(40, slot * 0.7));
  const y = (value: number) => HEIGHT - MARGIN.bottom - (value / max) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const summary = `Credits consumed by feature, per ${window.toLowerCase()}: ${features.map((feature) => `${feature} ${count(totals.get(feature)!)}`).join(', ')}.`;
  const titleId = uid('chart-title');
  const bars = starts.flatMap((start, index) => {
    let base = 0;
    const left = MARGIN.left + index * slot + (slot - barWidth) / 2;
    return features.flatMap((feature) => {
      const bucket = perStart.get(start)!.find((candidate) => candidate.feature === feature);
      if (!bucket || bucket.credits === 0) return [];
      const rect = s('rect', { x: left.toFixed(1), y: y(base + bucket.credits).toFixed(1), width: barWidth.toFixed(1), height: (y(base) - y(base + bucket.credits)).toFixed(1), fill: colour(feature) });
      base += bucket.credits;
      return [rect];
    });
  });
  return h(
    'figure',
    { class: 'chart-figure' },
    s(
      'svg',
      { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': titleId, class: 'chart' },
      s('title', { id: titleId }, summary),
      [0, max / 2, max].map((tick) => [
        s('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick), class: 'grid' }),
        s('text', { x: MARGIN.left - 8, y: y(tick) + 4, 'text-anchor': 'end', class: 'tick' }, count(tick)),
      ]),
      bars,
      s('text', { x: MARGIN.left, y: HEIGHT - 8, class: 'tick' }, day(starts[0]!)),
      s('text', { x: WIDTH - MARGIN.right, y: HEIGHT - 8, 'text-anchor': 'end', class: 'tick' }, day(starts.at(-1)!)),
    ),
    h(
      'figcaption',
      {},
      h(
        'ul',
        { class: 'legend' },
        features.map((feature) => h('li', {}, s('svg', { class: 'swatch', viewBox: '0 0 10 10', 'aria-hidden': 'true' }, s('rect', { width: 10, height: 10, fill: colour(feature) })), `${feature}: ${credits(totals.get(feature)!)}`)),
      ),
    ),
    dataTable(
      'Usage data',
      ['Window start', 'Feature', 'Credits', 'Consumptions'],
      buckets.map((bucket) => [day(bucket.start), bucket.feature, count(bucket.credits), count(bucket.count)]),
    ),
  );
}
