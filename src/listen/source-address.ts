import { isIPv6 } from 'node:net';

/**
 * The address a connection is counted against for per-source limits: an IPv4 address as is
 * (also when it arrives IPv4-mapped, `::ffff:10.0.0.1`), an IPv6 address by its /64 prefix,
 * since one host commonly holds a whole /64 and could otherwise rotate through it.
 */
export function sourceKeyOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || remoteAddress === '') return 'unknown';
  const address = remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!isIPv6(address)) return address;
  const groups = expandIPv6(address.split('%')[0] ?? address);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The client's address as logs and audit events show it (IPv4-mapped addresses unwrapped). */
export function clientAddressOf(remoteAddress: string | undefined): string {
  return (remoteAddress ?? 'unknown').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

/** The eight 16-bit groups of an IPv6 address, lower case, without leading zeros. */
function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const parse = (part: string): string[] => (part === '' ? [] : part.split(':').flatMap(groupsOf));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const missing = Math.max(0, 8 - left.length - right.length);
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) =>
    g.replace(/^0+(?=.)/, '').toLowerCase(),
  );
}

/** One colon-separated part: a hex group, or an embedded IPv4 address (two groups). */
function groupsOf(part: string): string[] {
  if (!part.includes('.')) return [part];
  const bytes = part.split('.').map(Number);
  const [a = 0, b = 0, c = 0, d = 0] = bytes;
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
