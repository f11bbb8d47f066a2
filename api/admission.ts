// Signed queue tickets and admission tokens: HMAC-SHA256 with a key named by its id, so keys can
// rotate (the first key of ADMISSION_SIGNING_KEYS signs, every listed key verifies) without
// dropping the queue. Invariant: nothing unsigned, mistyped or bound to another sale or user is
// ever accepted; a ticket carries its join number, so a poll needs no per-user Redis key.
// A ticket verified once is remembered by its exact text (VerifiedTickets): the keys are fixed for
// the process's life and a ticket never changes, so a repeated poll skips the HMAC.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { ConfigError } from '../core/config/env.js';

export interface SigningKey {
  id: string;
  secret: Buffer;
}

/** "kid:secret,kid2:secret2" (secrets of 32 characters or more); the first one signs. */
export function parseSigningKeys(raw: string | undefined): SigningKey[] {
  if (raw === undefined || raw.trim() === '') return [];
  const problems: string[] = [];
  const keys = raw.split(',').map((entry, i) => {
    const at = entry.indexOf(':');
    const id = entry.slice(0, at).trim();
    const secret = entry.slice(at + 1).trim();
    if (at < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) problems.push(`ADMISSION_SIGNING_KEYS entry ${i + 1} must be "<key id>:<secret>" with a key id of 1-32 letters, digits, _ or -`);
    else if (secret.length < 32) problems.push(`ADMISSION_SIGNING_KEYS key "${id}" is shorter than 32 characters`);
    return { id, secret: Buffer.from(secret) };
  });
  if (new Set(keys.map((k) => k.id)).size !== keys.length) problems.push('ADMISSION_SIGNING_KEYS names a key id twice');
  if (problems.length) throw new ConfigError(problems);
  return keys;
}

/** A place in line: sale, user, join number and join second (what the user's entry in Redis holds). */
export interface Ticket {
  productId: string;
  userId: string;
  number: number;
  joinedAtSec: number;
}

/** Permission to order once in a queued sale, until expiresAtMs (Redis also enforces both). */
export interface AdmissionToken {
  productId: string;
  userId: string;
  expiresAtMs: number;
}

export type Verified<T> = { ok: true; value: T } | { ok: false; why: string };

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * Equal strings, in a time that depends on their length only (a signature check must not tell how
 * many leading characters of a forgery were right). No Buffers: this runs on every poll.
 */
export function sameString(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Tickets this process has verified, by their exact text: two generations of at most `size` each.
 * A new ticket goes into the young one while it has room (never by evicting: buyers poll in
 * cycles, and with more of them than fit, evicting the oldest would miss on every poll while
 * paying to keep each one; not inserting keeps a fixed part of them and costs a miss nothing).
 * Every `rotateMs` (checked on a miss) the young generation becomes the old one and the previous
 * old one is dropped; a hit in the old one moves back to the young one (room permitting), so
 * tickets still polled stay and those of buyers who left go within 2 × rotateMs. A full young
 * generation rotates early, once rotateMs / 6 passed since the last rotation: tickets of a queue
 * that is over (or of buyers who left) would otherwise keep newcomers out for up to rotateMs (the
 * full bench: 32,000 fairness tickets, then 1,000 polled ones all checked again, 42 % of bare
 * Fastify instead of 63-79 %); thrashing (more live tickets than 2 × size) rotates at most that often. O(1) per poll,
 * bounded at 2 × size. Only verified tickets go in: a hit is exactly as trustworthy as the check
 * it skips (same text, same keys, which are fixed for the process's life).
 */
export class VerifiedTickets {
  private young = new Map<string, Verified<Ticket>>();
  private old = new Map<string, Verified<Ticket>>();
  private rotatedAt: number;

  constructor(
    private readonly size: number,
    private readonly rotateMs: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.rotatedAt = clock();
  }

  get(raw: string): Verified<Ticket> | undefined {
    const hit = this.young.get(raw);
    if (hit !== undefined) return hit;
    const older = this.old.get(raw);
    if (older !== undefined && this.young.size < this.size) {
      this.old.delete(raw);
      this.young.set(raw, older);
    }
    return older;
  }

  add(raw: string, verified: Verified<Ticket>): void {
    const now = this.clock();
    const since = now - this.rotatedAt;
    if (since >= this.rotateMs || (this.young.size >= this.size && since >= this.rotateMs / 6)) {
      this.old = this.young;
      this.young = new Map();
      this.rotatedAt = now;
    }
    if (this.young.size < this.size) this.young.set(raw, verified);
  }
}

/**
 * Verified tickets remembered per Signer: about 400 bytes each with the ticket's text, so at most
 * ~13 MB. A pod polled by more distinct tickets than fit verifies the others on every poll (the
 * HMAC, a few µs), as without the cache. Rotation: every buyer still waiting polls at least every
 * 10 s (POLL_MAX_MS of the poll route), so a live ticket is seen several times per generation.
 */
const VERIFIED_TICKETS = 16_384;
const VERIFIED_ROTATE_MS = 60_000;

interface Key {
  id: string;
  /** The secret as a KeyObject made once (createHmac would otherwise import the Buffer per call). */
  secret: KeyObject;
}

export class Signer {
  private readonly keys: Key[];
  private readonly byId: Map<string, Key>;
  private readonly verified = new VerifiedTickets(VERIFIED_TICKETS, VERIFIED_ROTATE_MS);

  constructor(keys: SigningKey[]) {
    if (keys.length === 0) throw new Error('no signing key');
    this.keys = keys.map((k) => ({ id: k.id, secret: createSecretKey(k.secret) }));
    this.byId = new Map(this.keys.map((k) => [k.id, k]));
  }

  ticket(t: Ticket): string {
    return this.sign({ t: 'q', p: t.productId, u: t.userId, n: t.number, s: t.joinedAtSec });
  }

  token(a: AdmissionToken): string {
    return this.sign({ t: 'a', p: a.productId, u: a.userId, x: a.expiresAtMs });
  }

  /** The ticket if `raw` is one this Signer's keys signed (shared, frozen: callers only read it). */
  readTicket(raw: string): Verified<Ticket> {
    const known = this.verified.get(raw);
    if (known !== undefined) return known;
    const v = this.verify(raw, 'q');
    if (!v.ok) return v;
    const { p, u, n, s } = v.value;
    if (typeof p !== 'string' || typeof u !== 'string' || !Number.isSafeInteger(n) || !Number.isSafeInteger(s)) return { ok: false, why: 'malformed ticket' };
    const read: Verified<Ticket> = Object.freeze({ ok: true, value: Object.freeze({ productId: p, userId: u, number: n as number, joinedAtSec: s as number }) });
    this.verified.add(raw, read);
    return read;
  }

  readToken(raw: string): Verified<AdmissionToken> {
    const v = this.verify(raw, 'a');
    if (!v.ok) return v;
    const { p, u, x } = v.value;
    if (typeof p !== 'string' || typeof u !== 'string' || !Number.isSafeInteger(x)) return { ok: false, why: 'malformed admission token' };
    return { ok: true, value: { productId: p, userId: u, expiresAtMs: x as number } };
  }

  private sign(payload: Record<string, unknown>): string {
    const key = this.keys[0]!;
    const body = `${key.id}.${b64(JSON.stringify(payload))}`;
    return `${body}.${this.mac(key, body)}`;
  }

  private mac(key: Key, body: string): string {
    return createHmac('sha256', key.secret).update(body).digest('base64url');
  }

  private verify(raw: string, type: 'q' | 'a'): Verified<Record<string, unknown>> {
    const parts = raw.split('.');
    if (parts.length !== 3) return { ok: false, why: 'not a signed value (expected <key id>.<payload>.<signature>)' };
    const key = this.byId.get(parts[0]!);
    if (!key) return { ok: false, why: `signed with an unknown key id "${parts[0]!.slice(0, 32)}"` };
    if (!sameString(this.mac(key, `${parts[0]}.${parts[1]}`), parts[2]!)) return { ok: false, why: 'bad signature' };
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, why: 'malformed payload' };
    }
    if (typeof payload !== 'object' || payload === null || (payload as { t?: unknown }).t !== type)
      return { ok: false, why: type === 'q' ? 'not a queue ticket' : 'not an admission token' };
    return { ok: true, value: payload as Record<string, unknown> };
  }
}
