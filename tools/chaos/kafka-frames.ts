// Kafka protocol, just enough for the proxy: a client learns broker addresses from Metadata
// responses and then connects to them directly, which would bypass the proxy. This rewriter maps
// the broker port in every Metadata response to the proxy's port (ports are fixed 4-byte fields,
// so the frame keeps its size) and leaves every other byte alone.
import type { StreamRewriter } from './proxy.js';

const METADATA = 3;
/** Metadata v9+ uses the flexible encoding (compact strings, tagged fields). */
const FIRST_FLEXIBLE_METADATA = 9;

/** Splits a byte stream into Kafka frames (int32 size prefix); keeps the incomplete tail. */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Buffer[] = [];
    while (this.buf.length >= 4) {
      const size = this.buf.readInt32BE(0);
      if (this.buf.length < 4 + size) break;
      frames.push(this.buf.subarray(0, 4 + size));
      this.buf = this.buf.subarray(4 + size);
    }
    return frames;
  }
}

function readUVarint(b: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = b[at++]!;
    value |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7;
  }
}

/** Skips a string: int16 length (-1 null) or, flexible, a uvarint length+1 (0 null). */
function skipString(b: Buffer, at: number, flexible: boolean): number {
  if (!flexible) {
    const len = b.readInt16BE(at);
    return at + 2 + Math.max(0, len);
  }
  const [lenPlus1, next] = readUVarint(b, at);
  return next + Math.max(0, lenPlus1 - 1);
}

function skipTaggedFields(b: Buffer, at: number): number {
  let [n, p] = readUVarint(b, at);
  while (n-- > 0) {
    const [, afterTag] = readUVarint(b, p);
    const [size, afterSize] = readUVarint(b, afterTag);
    p = afterSize + size;
  }
  return p;
}

/**
 * Rewrites the broker ports of one Metadata response frame in place (size prefix included).
 * Layout: size, correlationId, [flexible: header tags], [v3+: throttle], brokers:
 * node_id int32, host string, port int32, [v1+: rack nullable string], [flexible: tags].
 */
export function rewriteMetadataPorts(frame: Buffer, version: number, mapPort: (port: number) => number): void {
  const flexible = version >= FIRST_FLEXIBLE_METADATA;
  let at = 8;
  if (flexible) at = skipTaggedFields(frame, at);
  if (version >= 3) at += 4;
  let count: number;
  if (flexible) {
    const [nPlus1, next] = readUVarint(frame, at);
    [count, at] = [nPlus1 - 1, next];
  } else {
    count = frame.readInt32BE(at);
    at += 4;
  }
  for (let i = 0; i < count; i++) {
    at = skipString(frame, at + 4, flexible);
    frame.writeInt32BE(mapPort(frame.readInt32BE(at)), at);
    at += 4;
    if (version >= 1) at = skipString(frame, at, flexible);
    if (flexible) at = skipTaggedFields(frame, at);
  }
}

/** One connection's rewriter: remembers which correlation ids are Metadata requests, and their version. */
export function kafkaRewriter(mapPort: (port: number) => number): () => StreamRewriter {
  return () => {
    const requests = new FrameSplitter();
    const responses = new FrameSplitter();
    const metadataVersion = new Map<number, number>();
    return {
      fromClient(chunk) {
        for (const f of requests.push(chunk)) {
          if (f.length >= 12 && f.readInt16BE(4) === METADATA) metadataVersion.set(f.readInt32BE(8), f.readInt16BE(6));
        }
        return chunk;
      },
      fromServer(chunk) {
        const frames = responses.push(chunk);
        for (const f of frames) {
          const version = metadataVersion.get(f.readInt32BE(4));
          if (version === undefined) continue;
          metadataVersion.delete(f.readInt32BE(4));
          rewriteMetadataPorts(f, version, mapPort);
        }
        return Buffer.concat(frames);
      },
    };
  };
}
