import { describe, expect, it } from 'vitest';
import { HEX_TAG_LENGTH, SLOT_COUNT, crc16, hexTagForSlot, keySlot } from './slots.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('crc16 (XMODEM, as Redis Cluster)', () => {
  it('matches the reference check value and the vectors of Redis crc16.c', () => {
    expect(crc16(bytes('123456789'))).toBe(0x31c3);
    expect(crc16(bytes(''))).toBe(0);
  });
});

describe('keySlot', () => {
  it.each([
    // CLUSTER KEYSLOT answers from the Redis documentation
    ['somekey', 11058],
    ['foo{hash_tag}', 2515],
    ['foo', 12182],
    ['bar', 5061],
    ['123456789', 0x31c3 % SLOT_COUNT],
  ])('%s -> %i', (key, slot) => {
    expect(keySlot(key)).toBe(slot);
  });

  it('hashes only the first non-empty {tag}', () => {
    expect(keySlot('fg:{phone-1}:stock')).toBe(keySlot('phone-1'));
    expect(keySlot('fg:{phone-1}:idem:{other}')).toBe(keySlot('phone-1'));
    expect(keySlot('a{}b')).toBe(crc16(bytes('a{}b')) % SLOT_COUNT); // empty tag: the whole key
    expect(keySlot('{a}}b')).toBe(keySlot('a'));
    expect(keySlot('no-close{abc')).toBe(crc16(bytes('no-close{abc')) % SLOT_COUNT);
  });
});

describe('hexTagForSlot', () => {
  it('has a hex tag for every slot, hashing into that slot', () => {
    const wrong: string[] = [];
    const shape = new RegExp(`^[0-9a-f]{${HEX_TAG_LENGTH}}$`);
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      const tag = hexTagForSlot(slot);
      if (!shape.test(tag) || keySlot(tag) !== slot) wrong.push(`slot ${slot}: ${tag}`);
    }
    expect(wrong).toEqual([]);
    expect(hexTagForSlot(keySlot('00000'))).toBe('00000');
  });

  it('refuses a slot out of range', () => {
    expect(() => hexTagForSlot(16384)).toThrow('slot must be an integer in 0..16383, got 16384');
    expect(() => hexTagForSlot(-1)).toThrow(RangeError);
  });
});
