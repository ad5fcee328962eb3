import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261101000000_app } from './Migration20261101000000_app.js';
import { Migration20261115000000_billing } from './Migration20261115000000_billing.js';
import { Migration20261124000000_reservations } from './Migration20261124000000_reservations.js';
import { Migration20261202000000_hardening } from './Migration20261202000000_hardening.js';
import { Migration20261203000000_accounts } from './Migration20261203000000_accounts.js';
import { Migration20261204000000_subscriptions } from './Migration20261204000000_subscriptions.js';
import { Migration20261205000000_events } from './Migration20261205000000_events.js';
import { Migration20261206000000_event_sources } from './Migration20261206000000_event_sources.js';
import { Migration20261207000000_console } from './Migration20261207000000_console.js';

/** Every migration, in order. Listed explicitly so the compiled server never scans the file system for them. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261101000000_app', class: Migration20261101000000_app },
  { name: 'Migration20261115000000_billing', class: Migration20261115000000_billing },
  { name: 'Migration20261124000000_reservations', class: Migration20261124000000_reservations },
  { name: 'Migration20261202000000_hardening', class: Migration20261202000000_hardening },
  { name: 'Migration20261203000000_accounts', class: Migration20261203000000_accounts },
  { name: 'Migration20261204000000_subscriptions', class: Migration20261204000000_subscriptions },
  { name: 'Migration20261205000000_events', class: Migration20261205000000_events },
  { name: 'Migration20261206000000_event_sources', class: Migration20261206000000_event_sources },
  { name: 'Migration20261207000000_console', class: Migration20261207000000_console },
];
