/**
 * IP addresses and CIDR ranges (`authorized_ip_addresses` of API tokens, `--trusted-proxy`):
 * validation with readable sentences, and membership checks through Node's `net.BlockList`, which
 * also matches IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) against IPv4 ranges and the reverse.
 */
import { BlockList, isIP } from 'node:net';

export type IpFamily = 'ipv4' | 'ipv6';

interface ParsedNetwork {
  readonly address: string;
  readonly family: IpFamily;
  /** Absent for a single address. */
  readonly prefix?: number;
}

/** The family of a plain address (no range, no zone index), or null when it is not one. */
export function ipFamily(address: string): IpFamily | null {
  if (address.includes('%')) return null;
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : null;
}

/** Parses `address` or `address/prefix`; answers a sentence saying what is wrong when it is neither. */
export function parseNetwork(text: string): ParsedNetwork | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = ipFamily(address);
  if (family === null) return `${JSON.stringify(text)} is not an IPv4 or IPv6 address or CIDR range`;
  if (slash < 0) return { address, family };
  const prefixText = text.slice(slash + 1);
  const maxPrefix = family === 'ipv4' ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) {
    return `${JSON.stringify(text)} has an invalid prefix length (an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} range takes /0 to /${maxPrefix})`;
  }
  return { address, family, prefix: Number(prefixText) };
}

/** The sentences describing every invalid entry of a list (empty when all are valid). */
export function networkListErrors(entries: readonly string[], label: string): string[] {
  return entries.flatMap((entry) => {
    const parsed = parseNetwork(entry);
    return typeof parsed === 'string' ? [`${label}: ${parsed}`] : [];
  });
}

/** A set of addresses and ranges; building one costs more than checking it, so keep it. */
export class NetworkSet {
  private readonly list = new BlockList();

  /** Throws on an invalid entry: validate with `networkListErrors` first. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const parsed = parseNetwork(entry);
      if (typeof parsed === 'string') throw new RangeError(parsed);
      if (parsed.prefix === undefined) this.list.addAddress(parsed.address, parsed.family);
      else this.list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }

  /** Whether the address is in the set; an address that is not valid is in no set. */
  includes(address: string): boolean {
    const family = ipFamily(address);
    return family !== null && this.list.check(address, family);
  }
}

/** A parsed entry as a range: a single address is a full-length prefix; IPv4-mapped IPv6 ranges as IPv4. */
function rangeOf(parsed: ParsedNetwork): { address: string; family: IpFamily; prefix: number } {
  const prefix = parsed.prefix ?? (parsed.family === 'ipv4' ? 32 : 128);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(parsed.address);
  if (parsed.family === 'ipv6' && mapped && prefix >= 96) return { address: mapped[1]!, family: 'ipv4', prefix: prefix - 96 };
  return { address: parsed.address, family: parsed.family, prefix };
}

/**
 * The entries of `entries` not inside any one entry of `allowed` (both lists of addresses and CIDR
 * ranges; invalid entries are outside everything). Aligned ranges nest or do not meet, so a range is
 * inside another when the other is no narrower and holds one of its addresses.
 */
export function networksOutside(entries: readonly string[], allowed: readonly string[]): string[] {
  const containers = allowed.flatMap((entry) => {
    const parsed = parseNetwork(entry);
    if (typeof parsed === 'string') return [];
    const range = rangeOf(parsed);
    const set = new BlockList();
    set.addSubnet(range.address, range.prefix, range.family);
    return [{ ...range, set }];
  });
  return entries.filter((entry) => {
    const parsed = parseNetwork(entry);
    if (typeof parsed === 'string') return true;
    const range = rangeOf(parsed);
    return !containers.some((container) => container.family === range.family && container.prefix <= range.prefix && container.set.check(range.address, range.family));
  });
}
