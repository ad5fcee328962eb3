/** How the console writes numbers, credits and times: plainly, in UTC. */

export const count = (value: number) => value.toLocaleString('en-US');

export const credits = (value: number) => `${count(value)} ${Math.abs(value) === 1 ? 'credit' : 'credits'}`;

export const signed = (value: number) => (value > 0 ? `+${count(value)}` : count(value));

const pad = (value: number) => String(value).padStart(2, '0');

/** `2026-11-24 09:30 UTC` */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
}

/** `2026-11-24` */
export function day(value: Date | string): string {
  const date = typeof value === 'string' ? new Date(value) : value;
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

export const titleCase = (value: string) => value.charAt(0) + value.slice(1).toLowerCase().replace(/_/g, ' ');

export interface Person {
  id: string;
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
}

export const personName = (person: Person) => [person.firstName, person.lastName].filter(Boolean).join(' ') || person.email || person.id;

/** `currentPeriodEnd` -> `Current period end` */
export const fieldLabel = (name: string) => {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
};
