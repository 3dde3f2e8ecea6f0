import { domainToASCII } from 'node:url';
import { parse as parseSmtpAddress } from 'smtp-address-parser';

/** A recipient address checked against RFC 5321 (envelope syntax) with its domain in ASCII (IDNA). */
export interface ParsedAddress {
  /** The local part as given. */
  local: string;
  /** The domain, lower-cased and punycode-encoded (xn--...) when it was internationalised. */
  domain: string;
  /** local@domain: what goes on the SMTP envelope. */
  address: string;
}

export type AddressCheck = { ok: true; value: ParsedAddress } | { ok: false; reason: string };

const MAX_ADDRESS = 254;

/**
 * The everyday shape (dot-atom of letters, digits, _ + - and a host name of at least two labels
 * with an alphabetic TLD): a strict subset of what the RFC 5321 grammar accepts, answered without
 * running the full parser (which costs about 0.1 ms an address). Anything else goes to the parser.
 */
const EVERYDAY = /^[A-Za-z0-9_+-]{1,64}(?:\.[A-Za-z0-9_+-]{1,64})*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/**
 * Checks one address. The domain is converted with IDNA (url.domainToASCII) first, so
 * `jöran@bücher.de` is accepted as `jöran@xn--bcher-kva.de`; the RFC 5321 grammar then decides.
 * Address literals (`user@[192.0.2.1]`) are refused: they cannot be checked for MX and are not mail domains.
 */
export function checkAddress(raw: string): AddressCheck {
  const at = raw.lastIndexOf('@');
  if (at <= 0 || at === raw.length - 1) return { ok: false, reason: 'must be local@domain' };
  const local = raw.slice(0, at);
  const rawDomain = raw.slice(at + 1);
  if (rawDomain.startsWith('[')) return { ok: false, reason: 'address literals are not accepted' };
  const domain = domainToASCII(rawDomain.replace(/\.$/, '')).toLowerCase();
  if (!domain) return { ok: false, reason: `"${rawDomain}" is not a valid domain` };
  const address = `${local}@${domain}`;
  if (address.length > MAX_ADDRESS) return { ok: false, reason: `is longer than ${MAX_ADDRESS} characters` };
  if (local.length <= 64 && EVERYDAY.test(address)) return { ok: true, value: { local, domain, address } };
  try {
    parseSmtpAddress(address);
  } catch {
    return { ok: false, reason: 'is not a valid RFC 5321 address' };
  }
  return { ok: true, value: { local, domain, address } };
}

/** The form two addresses are compared in (duplicates): the whole address case-folded. */
export function addressKey(parsed: ParsedAddress): string {
  return parsed.address.toLowerCase();
}
