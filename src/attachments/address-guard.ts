import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP, isIPv6 } from 'node:net';
import type { buildConnector as BuildConnector } from 'undici';
import { buildConnector } from '../upstream/undici-core.js';
import { ConfigError } from '../config.js';
import { AttachmentForbiddenError } from '../errors.js';

// Ranges an attachment URL may not reach: the service's own host, its network, and the cloud
// metadata endpoints that hand out credentials. Each label ends up in the 400 message.
const V4_RANGES: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified address'],
  ['10.0.0.0', 8, 'private address'],
  ['100.64.0.0', 10, 'shared (carrier-grade NAT) address'], // also Alibaba Cloud metadata 100.100.100.200
  ['127.0.0.0', 8, 'loopback address'],
  ['169.254.0.0', 16, 'link-local or cloud metadata address'], // 169.254.169.254 on AWS, GCP, Azure
  ['172.16.0.0', 12, 'private address'],
  ['192.0.0.0', 24, 'reserved address'], // Oracle Cloud metadata 192.0.0.192
  ['192.0.2.0', 24, 'documentation address'],
  ['192.168.0.0', 16, 'private address'],
  ['198.18.0.0', 15, 'benchmarking address'],
  ['198.51.100.0', 24, 'documentation address'],
  ['203.0.113.0', 24, 'documentation address'],
  ['224.0.0.0', 4, 'multicast address'],
  ['240.0.0.0', 4, 'reserved address'],
  ['168.63.129.16', 32, 'cloud metadata address'], // Azure's wire server sits in a public range
];
const V6_RANGES: [string, number, string][] = [
  ['::', 128, 'unspecified address'],
  ['::1', 128, 'loopback address'],
  ['fc00::', 7, 'unique-local address'], // AWS's IPv6 metadata fd00:ec2::254 too
  ['fe80::', 10, 'link-local address'],
  ['fec0::', 10, 'site-local address'],
  ['ff00::', 8, 'multicast address'],
  ['100::', 64, 'discard address'],
  ['2001::', 32, 'Teredo address'],
  ['2001:db8::', 32, 'documentation address'],
];

const forbidden = new BlockList();
for (const [net, bits] of V4_RANGES) forbidden.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of V6_RANGES) forbidden.addSubnet(net, bits, 'ipv6');

/** The 16 bytes of an IPv6 address (zone id ignored); the input must be valid IPv6. */
function ipv6Bytes(address: string): Buffer {
  let s = address.split('%')[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = s.split('::') as [string, string | undefined];
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const groups = right === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4), which is what gets reached. */
function embeddedIPv4(b: Buffer): string | undefined {
  const zeros = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  const v4 = (at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:a.b.c.d
  if (zeros(0, 12) && !zeros(12, 15)) return v4(12); // ::a.b.c.d (deprecated form)
  if (b.readUInt32BE(0) === 0x0064ff9b && zeros(4, 12)) return v4(12); // 64:ff9b::/96
  if (b.readUInt16BE(0) === 0x0064 && b.readUInt16BE(2) === 0xff9b && b.readUInt16BE(4) === 0x0001) return v4(12); // 64:ff9b:1::/48
  if (b.readUInt16BE(0) === 0x2002) return v4(2); // 6to4
  return undefined;
}

/** Why an IP address may not be fetched from, or undefined when it is a public address. */
export function forbiddenReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  if (family === 4) return forbidden.check(address, 'ipv4') ? labelFor(address, 'ipv4') : undefined;
  const inner = embeddedIPv4(ipv6Bytes(address));
  if (inner !== undefined) return forbiddenReason(inner);
  const plain = address.split('%')[0]!;
  return forbidden.check(plain, 'ipv6') ? labelFor(plain, 'ipv6') : undefined;
}

function labelFor(address: string, type: 'ipv4' | 'ipv6'): string {
  for (const [net, bits, label] of type === 'ipv4' ? V4_RANGES : V6_RANGES) {
    const one = new BlockList();
    one.addSubnet(net, bits, type);
    if (one.check(address, type)) return label;
  }
  return 'forbidden address';
}

/** Which hosts and networks the operator exempts (ATTACHMENT_ALLOW_HOSTS), and the check itself. */
export function createAddressPolicy(allowList: string) {
  const names = new Set<string>();
  const nets = new BlockList();
  for (const raw of allowList.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [ip, bits, extra] = raw.split('/');
    const family = isIP(ip!.replace(/^\[|\]$/g, ''));
    if (bits !== undefined || family !== 0) {
      const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
      if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
        throw new ConfigError(`invalid ATTACHMENT_ALLOW_HOSTS: "${raw}" is neither a host name, an IP address nor a CIDR`);
      }
      nets.addSubnet(ip!.replace(/^\[|\]$/g, ''), prefix, family === 6 ? 'ipv6' : 'ipv4');
    } else {
      names.add(normalizeHost(raw));
    }
  }
  return {
    /** A host name the operator exempts from the address check. */
    hostExempt: (host: string) => names.has(normalizeHost(host)),
    /** Why this address is refused; undefined when it may be reached. */
    refusal(address: string): string | undefined {
      const plain = address.split('%')[0]!;
      if (nets.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4')) return undefined;
      return forbiddenReason(plain);
    },
  };
}

export type AddressPolicy = ReturnType<typeof createAddressPolicy>;

function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

type Resolver = (hostname: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect that resolves, drops every address the policy refuses and connects
 * only to the rest; the socket is bound to an address checked in this very lookup, so a DNS
 * answer that changes between a check and the connection (rebinding) cannot slip through.
 */
export function guardedLookup(policy: AddressPolicy, resolve: Resolver = dnsLookup) {
  return (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true } as LookupAllOptions, (err, addresses) => {
      if (err) return callback(err, []);
      const usable = policy.hostExempt(hostname) ? addresses : addresses.filter((a) => policy.refusal(a.address) === undefined);
      const first = usable[0];
      if (!first) {
        const why = addresses[0] ? policy.refusal(addresses[0].address) : 'no address';
        return callback(new AttachmentForbiddenError(hostname, `it resolves to a ${why}`), []);
      }
      if (options.all) callback(null, usable);
      else callback(null, first.address, first.family);
    });
  };
}

/**
 * An undici connector that refuses forbidden IP literals (net.connect skips `lookup` for them)
 * and resolves names through {@link guardedLookup}.
 */
export function guardedConnector(policy: AddressPolicy, timeoutMs: number, resolve?: Resolver): BuildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs, lookup: guardedLookup(policy, resolve) } as BuildConnector.BuildOptions);
  return (opts, callback) => {
    const host = opts.hostname.replace(/^\[|\]$/g, '');
    const why = isIP(host) && !policy.hostExempt(host) ? policy.refusal(host) : undefined;
    if (why) return callback(new AttachmentForbiddenError(host, `it is a ${why}`), null);
    return connect(opts, callback);
  };
}
