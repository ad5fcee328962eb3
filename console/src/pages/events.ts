import { errorMessage, gql } from '../api.js';
import { capabilities, fieldsOf, hasArg, namedType, type FieldShape } from '../capabilities.js';
import { errorBox, h, replace, section, table, type Child } from '../dom.js';
import { dateTime, fieldLabel, titleCase } from '../format.js';
import { confirmAction } from '../account/dialogs.js';
import { accountArgs, type Account } from '../account/account-data.js';

/**
 * Webhook endpoints and their deliveries, where this server has them (webhookEndpoints, webhookDeliveries and
 * redeliverWebhookEvent): read from the capabilities, so the section appears when the API gains the fields and
 * shows whichever plain fields the types have.
 */

export const eventsAvailable = () => Boolean(capabilities().query.webhookEndpoints && capabilities().query.webhookDeliveries);

interface ListShape {
  connection: boolean;
  node: string;
}

/** A list field's shape: a plain list of nodes, or a connection (edges { node }). */
function listShape(field: FieldShape): ListShape {
  const named = namedType(field.type);
  const edges = fieldsOf(named).find((f) => f.name === 'edges');
  if (!edges) return { connection: false, node: named };
  const node = fieldsOf(namedType(edges.type)).find((f) => f.name === 'node');
  return { connection: true, node: node ? namedType(node.type) : named };
}

/** Plain fields of a type, known ones first (`preferred`), at most `max`; secrets, bodies and payloads left out. */
function columns(typeName: string, max: number, preferred: string[], leaveOut: string[] = []): string[] {
  const leaves = fieldsOf(typeName)
    .filter((f) => f.leaf && f.args.length === 0 && !/secret|body|data|payload/i.test(f.name) && !leaveOut.includes(f.name))
    .map((f) => f.name);
  return [...preferred.filter((name) => leaves.includes(name)), ...leaves.filter((name) => !preferred.includes(name))].slice(0, max);
}

const ENDPOINT_COLUMNS = ['id', 'url', 'description', 'enabled', 'eventTypes', 'createdAt'];
const DELIVERY_COLUMNS = ['status', 'attemptCount', 'attempts', 'lastResponseCode', 'responseStatus', 'statusCode', 'lastError', 'createdAt', 'deliveredAt', 'nextAttemptAt', 'id'];

const cell = (value: unknown): Child => {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const event = value as { id?: unknown; type?: unknown };
    return [event.type ? `${String(event.type)} ` : '', event.id ? h('code', {}, String(event.id)) : ''];
  }
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)) return dateTime(value);
  if (typeof value === 'string' && /^[A-Z][A-Z_]+$/.test(value)) return titleCase(value);
  return String(value);
};

const label = (name: string) => ({ id: 'Id', url: 'URL' })[name] ?? fieldLabel(name);

function eventIdOf(delivery: Record<string, unknown>): string | undefined {
  if (typeof delivery.eventId === 'string') return delivery.eventId;
  const event = delivery.event as { id?: unknown } | undefined;
  return typeof event?.id === 'string' ? event.id : undefined;
}

async function deliveriesOf(endpointId: string): Promise<Record<string, unknown>[]> {
  const field = capabilities().query.webhookDeliveries!;
  const shape = listShape(field);
  const eventField = fieldsOf(shape.node).find((f) => f.name === 'event' && !f.leaf);
  const eventType = eventField && fieldsOf(namedType(eventField.type)).some((f) => f.name === 'type') ? ' type' : '';
  const cols = columns(shape.node, 7, DELIVERY_COLUMNS, ['endpointId']);
  const selection = `${eventField && !cols.includes('eventId') ? `event { id${eventType} } ` : ''}${cols.join(' ')}`;
  const args = ['endpointId: $endpointId', hasArg(field, 'first') ? 'first: 10' : null].filter(Boolean).join(', ');
  const data = await gql<{ webhookDeliveries: unknown }>(
    `query ConsoleDeliveries($endpointId: ID!) { webhookDeliveries(${args}) { ${shape.connection ? `edges { node { ${selection} } }` : selection} } }`,
    { endpointId },
  );
  const list = data.webhookDeliveries as { edges?: { node: Record<string, unknown> }[] } | Record<string, unknown>[];
  return Array.isArray(list) ? list : (list.edges ?? []).map((edge) => edge.node);
}

function redeliverButton(endpointId: string, eventId: string, refresh: () => void): Child {
  if (!capabilities().mutation.redeliverWebhookEvent) return '';
  return h(
    'button',
    {
      type: 'button',
      class: 'secondary small',
      onclick: () =>
        confirmAction({
          title: `Redeliver event ${eventId}`,
          effect: () => h('p', {}, `Sends event ${eventId} to endpoint ${endpointId} again, as a new delivery. The receiver should treat it as a duplicate if it already handled it.`),
          confirmLabel: 'Redeliver',
          run: async () => {
            await gql('mutation ConsoleRedeliver($endpointId: ID!, $eventId: ID!) { redeliverWebhookEvent(endpointId: $endpointId, eventId: $eventId) { __typename } }', { endpointId, eventId });
            return `Event ${eventId} is queued for redelivery.`;
          },
          done: refresh,
        }),
    },
    'Redeliver',
    h('span', { class: 'visually-hidden' }, ` event ${eventId}`),
  );
}

async function endpointsView(target: Record<string, string>): Promise<HTMLElement> {
  const field = capabilities().query.webhookEndpoints!;
  const shape = listShape(field);
  const cols = columns(shape.node, 6, ENDPOINT_COLUMNS);
  const argText = [
    ...Object.keys(target).filter((name) => hasArg(field, name)).map((name) => `${name}: $${name}`),
    hasArg(field, 'first') ? 'first: 20' : null,
  ].filter(Boolean);
  const declarations = Object.keys(target).filter((name) => hasArg(field, name)).map((name) => `$${name}: ID`).join(', ');
  const data = await gql<{ webhookEndpoints: unknown }>(
    `query ConsoleEndpoints${declarations ? `(${declarations})` : ''} { webhookEndpoints${argText.length ? `(${argText.join(', ')})` : ''} { ${shape.connection ? `edges { node { ${cols.join(' ')} } }` : cols.join(' ')} } }`,
    target,
  );
  const list = data.webhookEndpoints as { edges?: { node: Record<string, unknown> }[] } | Record<string, unknown>[];
  const endpoints = Array.isArray(list) ? list : (list.edges ?? []).map((edge) => edge.node);
  const container = h('div', {});
  if (endpoints.length === 0) {
    replace(container, h('p', { class: 'empty' }, 'No webhook endpoints.'));
    return container;
  }
  for (const endpoint of endpoints) {
    const id = String(endpoint.id);
    const deliveries = h('div', { 'aria-busy': 'true' }, h('p', { class: 'hint' }, 'Loading deliveries…'));
    const refresh = async () => {
      try {
        const rows = await deliveriesOf(id);
        const deliveryCols = rows[0] ? Object.keys(rows[0]) : [];
        replace(
          deliveries,
          table(
            `Recent deliveries to ${id}`,
            [...deliveryCols.map(label), 'Action'],
            rows.map((row) => {
              const eventId = eventIdOf(row);
              return [...deliveryCols.map((key) => cell(row[key])), eventId ? redeliverButton(id, eventId, () => void refresh()) : ''];
            }),
            { empty: 'No deliveries yet.' },
          ),
        );
      } catch (error) {
        replace(deliveries, errorBox(errorMessage(error)));
      } finally {
        deliveries.setAttribute('aria-busy', 'false');
      }
    };
    void refresh();
    container.append(
      h(
        'article',
        { class: 'endpoint' },
        h('h3', {}, String(endpoint.url ?? id)),
        h('dl', { class: 'facts' }, cols.map((col) => [h('dt', {}, label(col)), h('dd', {}, cell(endpoint[col]))])),
        h('h4', {}, 'Recent deliveries'),
        deliveries,
      ),
    );
  }
  return container;
}

/** The account's endpoints, when webhookEndpoints takes the account (userId or organizationId). */
export function accountWebhooks(account: Account): HTMLElement | null {
  const field = capabilities().query.webhookEndpoints;
  if (!eventsAvailable() || !field) return null;
  const target = accountArgs(account);
  if (!Object.keys(target).some((name) => hasArg(field, name))) return null;
  const body = h('div', {}, h('p', { class: 'hint' }, 'Loading webhook endpoints…'));
  void endpointsView(target).then(
    (view) => replace(body, view),
    (error: unknown) => replace(body, errorBox(errorMessage(error))),
  );
  return section('Webhook endpoints', body);
}

export async function renderEvents(main: HTMLElement): Promise<void> {
  document.title = 'Events · Tally console';
  if (!eventsAvailable()) {
    replace(main, h('h1', {}, 'Events'), h('p', {}, 'This server has no webhook endpoints yet.'));
    return;
  }
  const field = capabilities().query.webhookEndpoints!;
  const required = field.args.filter((arg) => arg.type.endsWith('!'));
  const body = h('div', {}, h('p', { class: 'hint' }, 'Loading webhook endpoints…'));
  replace(main, h('h1', {}, 'Events'), section('Webhook endpoints', body));
  if (required.length > 0) {
    replace(body, h('p', {}, 'Webhook endpoints belong to accounts: open an account to see its endpoints and deliveries.'));
    return;
  }
  try {
    replace(body, await endpointsView({}));
  } catch (error) {
    replace(body, errorBox(errorMessage(error)));
  }
}
