// Redis Cluster slot math (the same as CLUSTER KEYSLOT), and the hex hash tags that reach each slot.

export const SLOT_COUNT = 16384;

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    t[i] = crc;
  }
  return t;
})();

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

const utf8 = new TextEncoder();

/**
 * The slot of a key: only its hash tag counts (what lies between the first "{" and the next "}",
 * when not empty), else the whole key.
 */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(utf8.encode(key)) % SLOT_COUNT;
}

/** Length of the hex tags: 16^5 strings cover every one of the 16384 slots (16^4 would leave ~300 out). */
export const HEX_TAG_LENGTH = 5;

let hexTagBySlot: string[] | undefined;

/**
 * A lowercase hex string of HEX_TAG_LENGTH digits whose hash lands in `slot` (the smallest such).
 * The table is built once per process (about a million one-byte checksum steps: tens of milliseconds).
 */
export function hexTagForSlot(slot: number): string {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) throw new RangeError(`slot must be an integer in 0..${SLOT_COUNT - 1}, got ${slot}`);
  if (!hexTagBySlot) hexTagBySlot = buildHexTagTable();
  return hexTagBySlot[slot]!;
}

function buildHexTagTable(): string[] {
  // Digit by digit with the running checksum of the prefix: one table step per candidate.
  const table = new Array<string>(SLOT_COUNT);
  const digits = '0123456789abcdef';
  const step = (crc: number, byte: number) => ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  const visit = (prefix: string, crc: number) => {
    for (let d = 0; d < 16; d++) {
      const next = step(crc, digits.charCodeAt(d));
      if (prefix.length + 1 < HEX_TAG_LENGTH) visit(prefix + digits[d], next);
      else table[next % SLOT_COUNT] ??= prefix + digits[d];
    }
  };
  visit('', 0);
  const missing = table.filter((t) => t === undefined).length + (SLOT_COUNT - table.length);
  if (missing > 0) throw new Error(`${missing} slots have no ${HEX_TAG_LENGTH}-digit hex tag`); // cannot happen (unit-tested)
  return table;
}
