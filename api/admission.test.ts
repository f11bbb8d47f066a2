// Signed tickets and tokens: round trip, key rotation, and every way a value can be refused.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/config/env.js';
import { parseSigningKeys, sameString, Signer, VerifiedTickets, type Ticket, type Verified } from './admission.js';

const OLD = 'old:0123456789abcdef0123456789abcdef';
const NEW = 'new:fedcba9876543210fedcba9876543210';
const ticket = { productId: 'p1', userId: 'u1', number: 42, joinedAtSec: 1_800_000_000 };

describe('admission signing', () => {
  it('reads back what it signed; the same place gives the same ticket', () => {
    const s = new Signer(parseSigningKeys(OLD));
    expect(s.readTicket(s.ticket(ticket))).toEqual({ ok: true, value: ticket });
    expect(s.ticket(ticket)).toBe(s.ticket({ ...ticket }));
    const token = { productId: 'p1', userId: 'u1', expiresAtMs: 1_800_000_000_000 };
    expect(s.readToken(s.token(token))).toEqual({ ok: true, value: token });
  });

  it('rotates: the new key signs, values signed with the old one still verify while it is listed', () => {
    const before = new Signer(parseSigningKeys(OLD));
    const during = new Signer(parseSigningKeys(`${NEW},${OLD}`));
    const after = new Signer(parseSigningKeys(NEW));
    const old = before.ticket(ticket);
    expect(during.readTicket(old).ok).toBe(true);
    expect(during.ticket(ticket).startsWith('new.')).toBe(true);
    expect(after.readTicket(old)).toEqual({ ok: false, why: 'signed with an unknown key id "old"' });
  });

  it.each([
    ['a token read as a ticket', (s: Signer) => s.token({ productId: 'p', userId: 'u', expiresAtMs: 1 }), 'not a queue ticket'],
    ['a changed payload', (s: Signer) => { const [k, , sig] = s.ticket(ticket).split('.'); return `${k}.${Buffer.from('{"t":"q","p":"p1","u":"u1","n":1,"s":1}').toString('base64url')}.${sig}`; }, 'bad signature'],
    ['a changed signature', (s: Signer) => s.ticket(ticket).slice(0, -4) + 'AAAA', 'bad signature'],
    ['not three parts', () => 'abc', 'not a signed value (expected <key id>.<payload>.<signature>)'],
  ])('refuses %s', (_n, make, why) => {
    const s = new Signer(parseSigningKeys(OLD));
    expect(s.readTicket(make(s))).toEqual({ ok: false, why });
  });

  it('remembers a verified ticket by its text (the same answer, no second check); a refused one is never remembered', () => {
    const s = new Signer(parseSigningKeys(OLD));
    const raw = s.ticket(ticket);
    const first = s.readTicket(raw);
    expect(s.readTicket(raw)).toBe(first);
    expect(Object.isFrozen(first) && first.ok && Object.isFrozen(first.value)).toBe(true);
    const forged = raw.slice(0, -4) + 'AAAA';
    expect(s.readTicket(forged)).toEqual({ ok: false, why: 'bad signature' });
    expect(s.readTicket(forged)).toEqual({ ok: false, why: 'bad signature' });
    // Another process's keys (a rotation dropped this one): its own memory is empty, so it refuses.
    expect(new Signer(parseSigningKeys(NEW)).readTicket(raw)).toEqual({ ok: false, why: 'signed with an unknown key id "old"' });
  });

  it('refuses bad key lists with the reason', () => {
    expect(() => parseSigningKeys('k1:short')).toThrow(ConfigError);
    expect(() => parseSigningKeys(`${OLD},${OLD}`)).toThrow(/twice/);
    expect(() => parseSigningKeys('nokeyid')).toThrow(/key id/);
    expect(parseSigningKeys(undefined)).toEqual([]);
  });
});

describe('sameString', () => {
  it('is true for equal strings only, whatever the length or position of a difference', () => {
    expect(sameString('', '')).toBe(true);
    expect(sameString('abc', 'abc')).toBe(true);
    expect(sameString('abc', 'abd')).toBe(false);
    expect(sameString('xbc', 'abc')).toBe(false);
    expect(sameString('abc', 'abcd')).toBe(false);
    expect(sameString('abcd', 'abc')).toBe(false);
  });
});

describe('VerifiedTickets', () => {
  const entry = (n: number): Verified<Ticket> => ({ ok: true, value: { ...ticket, number: n } });

  it('keeps the first `size` tickets without evicting; every rotateMs the young ones age, and those polled again stay', () => {
    let now = 0;
    const c = new VerifiedTickets(2, 1000, () => now);
    const kept = entry(1);
    c.add('kept', kept);
    c.add('a', entry(2));
    c.add('b', entry(3)); // full: not remembered (nothing evicted for it)
    expect([c.get('kept'), c.get('a'), c.get('b')]).toEqual([kept, entry(2), undefined]);
    now = 1000;
    c.add('c', entry(4)); // rotation: old [kept, a], young [c]
    expect(c.get('kept')).toBe(kept); // moves back: young [c, kept]
    expect(c.get('a')).toEqual(entry(2)); // a hit in old, no room in young: stays old
    now = 2000;
    c.add('d', entry(5)); // rotation: old [c, kept] (a dropped), young [d]
    expect(c.get('a')).toBeUndefined();
    expect(c.get('kept')).toBe(kept);
    now = 3000;
    c.add('e', entry(6));
    now = 4000;
    c.add('f', entry(7)); // kept not polled for two rotations: gone
    expect(c.get('kept')).toBeUndefined();
    expect(c.get('f')).toEqual(entry(7));
  });

  it('a full young generation rotates early (after rotateMs / 6): stale tickets do not keep newcomers out for rotateMs', () => {
    let now = 0;
    const c = new VerifiedTickets(2, 600, () => now);
    c.add('stale-1', entry(1));
    c.add('stale-2', entry(2));
    now = 50;
    c.add('new-1', entry(3)); // full, too soon after the last rotation: not remembered
    expect(c.get('new-1')).toBeUndefined();
    now = 100;
    c.add('new-1', entry(3)); // full and 100 ms (= 600 / 6) since: old [stale-1, stale-2], young [new-1]
    expect(c.get('new-1')).toEqual(entry(3));
    c.add('new-2', entry(4));
    now = 200;
    c.add('new-3', entry(5)); // full again: rotates, the stale ones are dropped
    expect([c.get('stale-1'), c.get('stale-2')]).toEqual([undefined, undefined]);
    expect(c.get('new-3')).toEqual(entry(5));
  });
});
