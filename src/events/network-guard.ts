import { lookup } from 'node:dns/promises';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Keeps webhook requests off the service's own network (SSRF): an endpoint's host is resolved, every address it
 * resolves to is checked, and the request then connects to a checked address (webhook-client.ts pins it), so DNS
 * cannot hand out a public address to the check and a private one to the connection (rebinding).
 */

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (the system resolver by default; tests pass their own). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, order: 'verbatim' })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));

/** The request was refused before anything was sent; `reason` is safe to store and show to an admin. */
export class RefusedAddressError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'RefusedAddressError';
  }
}

interface Range {
  family: 4 | 6;
  base: bigint;
  bits: number;
  label: string;
}

function parseIPv4(address: string): bigint {
  return address.split('.').reduce((value, part) => (value << 8n) | BigInt(Number(part)), 0n);
}

/** An IPv6 address (compressed, with an IPv4 tail or a zone) as its 128-bit value. */
function parseIPv6(text: string): bigint {
  let address = text.replace(/%.*$/, '');
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (tail) {
    const v4 = parseIPv4(tail[1]!);
    address = `${address.slice(0, -tail[1]!.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = address.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  return groups.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

const range = (cidr: string, label: string): Range => {
  const [address, bits] = cidr.split('/') as [string, string];
  return isIPv4(address)
    ? { family: 4, base: parseIPv4(address), bits: Number(bits), label }
    : { family: 6, base: parseIPv6(address), bits: Number(bits), label };
};

/** Special-use ranges (IANA's registries): nothing a public webhook receiver lives at. */
const RANGES: Range[] = [
  range('0.0.0.0/8', '"this network" address'),
  range('10.0.0.0/8', 'private address'),
  range('100.64.0.0/10', 'shared (carrier-grade NAT) address'),
  range('127.0.0.0/8', 'loopback address'),
  range('169.254.0.0/16', 'link-local address'),
  range('172.16.0.0/12', 'private address'),
  range('192.0.0.0/24', 'IETF protocol address'),
  range('192.0.2.0/24', 'documentation address'),
  range('192.88.99.0/24', '6to4 relay address'),
  range('192.168.0.0/16', 'private address'),
  range('198.18.0.0/15', 'benchmarking address'),
  range('198.51.100.0/24', 'documentation address'),
  range('203.0.113.0/24', 'documentation address'),
  range('224.0.0.0/4', 'multicast address'),
  range('240.0.0.0/4', 'reserved address'),
  range('::1/128', 'loopback address'),
  range('::/96', 'unspecified or IPv4-compatible address'),
  range('64:ff9b:1::/48', 'local-use NAT64 address'),
  range('100::/64', 'discard-only address'),
  range('2001::/23', 'IETF protocol address'),
  range('2001:db8::/32', 'documentation address'),
  range('3fff::/20', 'documentation address'),
  range('fc00::/7', 'unique-local (private) address'),
  range('fe80::/10', 'link-local address'),
  range('fec0::/10', 'site-local address'),
  range('ff00::/8', 'multicast address'),
];

const inRange = (value: bigint, width: number, { base, bits }: Range) => value >> BigInt(width - bits) === base >> BigInt(width - bits);

/** IPv6 forms that carry an IPv4 address which the packets end up at: IPv4-mapped, NAT64 (well-known) and 6to4. */
function embeddedIPv4(value: bigint): string | undefined {
  const v4 = (n: bigint) => [24n, 16n, 8n, 0n].map((shift) => Number((n >> shift) & 0xffn)).join('.');
  if (value >> 32n === 0xffffn) return v4(value & 0xffffffffn);
  if (value >> 32n === parseIPv6('64:ff9b::') >> 32n) return v4(value & 0xffffffffn);
  if (value >> 112n === 0x2002n) return v4((value >> 80n) & 0xffffffffn);
  return undefined;
}

/** Why `address` (an IP literal) is not a public unicast address, or undefined when it is one. */
export function specialUseReason(address: string): string | undefined {
  if (isIPv4(address)) {
    const value = parseIPv4(address);
    return RANGES.find((r) => r.family === 4 && inRange(value, 32, r))?.label;
  }
  if (!isIPv6(address)) return 'not an IP address';
  const value = parseIPv6(address);
  const inner = embeddedIPv4(value);
  if (inner !== undefined) {
    const reason = specialUseReason(inner);
    return reason === undefined ? undefined : `IPv4 ${reason} inside an IPv6 address`;
  }
  return RANGES.find((r) => r.family === 6 && inRange(value, 128, r))?.label;
}

/** A URL's hostname as an IP literal (without IPv6 brackets), or undefined for a name. */
export function ipLiteral(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIPv4(bare) || isIPv6(bare) ? bare : undefined;
}

/**
 * The address to connect to for `hostname`: every address it resolves to must be public (unless private networks
 * are allowed); the first is used. Throws RefusedAddressError otherwise.
 */
export async function resolveTarget(hostname: string, options: { allowPrivateNetworks: boolean; resolver: HostResolver }): Promise<ResolvedAddress> {
  const literal = ipLiteral(hostname);
  let addresses: ResolvedAddress[];
  if (literal !== undefined) {
    addresses = [{ address: literal, family: isIPv4(literal) ? 4 : 6 }];
  } else {
    try {
      addresses = await options.resolver(hostname);
    } catch {
      throw new RefusedAddressError(`could not resolve ${hostname}`);
    }
    if (addresses.length === 0) throw new RefusedAddressError(`could not resolve ${hostname}`);
  }
  if (!options.allowPrivateNetworks) {
    for (const { address } of addresses) {
      const reason = specialUseReason(address);
      if (reason !== undefined) throw new RefusedAddressError(`refused: ${hostname} resolves to ${address} (${reason})`);
    }
  }
  return addresses[0]!;
}
