// The proxies' port rewriting: Sentinel replies and Kafka Metadata responses name ports the client
// would connect to directly; each must come out mapped, every other byte unchanged.
import { describe, expect, it } from 'vitest';
import { FrameSplitter, kafkaRewriter, rewriteMetadataPorts } from './kafka-frames.js';
import { encodeResp, parseResp, sentinelRewriter, type Resp } from './resp.js';

const map = (p: number) => (p === 6379 ? 16379 : p === 26379 ? 36379 : p);
const bulk = (s: string): Resp => ({ t: '$', b: Buffer.from(s) });
const arr = (...a: Resp[]): Resp => ({ t: '*', a });

function viaSentinel(reply: Resp, splitAt?: number): Resp {
  const rw = sentinelRewriter(map)();
  const bytes = encodeResp(reply);
  const out = splitAt === undefined ? rw.fromServer(bytes) : Buffer.concat([rw.fromServer(bytes.subarray(0, splitAt)), rw.fromServer(bytes.subarray(splitAt))]);
  return parseResp(out)!.v;
}

describe('Sentinel reply rewriting', () => {
  it('maps get-master-addr-by-name, also when the reply arrives in two chunks', () => {
    expect(viaSentinel(arr(bulk('127.0.0.1'), bulk('6379')))).toEqual(arr(bulk('127.0.0.1'), bulk('16379')));
    expect(viaSentinel(arr(bulk('127.0.0.1'), bulk('6379')), 7)).toEqual(arr(bulk('127.0.0.1'), bulk('16379')));
  });

  it('maps the port field of SENTINEL sentinels and +switch-master messages, nothing else', () => {
    const sentinels = arr(arr(bulk('name'), bulk('x'), bulk('ip'), bulk('127.0.0.1'), bulk('port'), bulk('26379'), bulk('runid'), bulk('6379')));
    expect(viaSentinel(sentinels)).toEqual(arr(arr(bulk('name'), bulk('x'), bulk('ip'), bulk('127.0.0.1'), bulk('port'), bulk('36379'), bulk('runid'), bulk('6379'))));
    const msg = arr(bulk('message'), bulk('+switch-master'), bulk('m 127.0.0.1 6379 127.0.0.1 26379'));
    expect(viaSentinel(msg)).toEqual(arr(bulk('message'), bulk('+switch-master'), bulk('m 127.0.0.1 16379 127.0.0.1 36379')));
    expect(viaSentinel({ t: ':', s: '6379' })).toEqual({ t: ':', s: '6379' });
  });
});

/** A Metadata response (non-flexible v1..v8): correlation id, [throttle], brokers, then opaque rest. */
function metadataResponse(version: number, correlationId: number, brokers: Array<[string, number]>): Buffer {
  const parts: Buffer[] = [];
  const i32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };
  const str = (s: string) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)]);
  parts.push(i32(correlationId));
  if (version >= 3) parts.push(i32(0));
  parts.push(i32(brokers.length));
  brokers.forEach(([host, port], i) => parts.push(i32(i), str(host), i32(port), Buffer.from([0xff, 0xff])));
  parts.push(Buffer.from('rest-of-the-frame'));
  const body = Buffer.concat(parts);
  return Buffer.concat([i32(body.length), body]);
}

function metadataRequest(version: number, correlationId: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeInt32BE(10, 0);
  b.writeInt16BE(3, 4);
  b.writeInt16BE(version, 6);
  b.writeInt32BE(correlationId, 8);
  return b;
}

describe('Kafka Metadata rewriting', () => {
  it('rewrites broker ports in place for v1 and v6 frames', () => {
    for (const v of [1, 6]) {
      const f = metadataResponse(v, 7, [['127.0.0.1', 6379], ['127.0.0.1', 9999]]);
      rewriteMetadataPorts(f, v, map);
      expect(f).toEqual(metadataResponse(v, 7, [['127.0.0.1', 16379], ['127.0.0.1', 9999]]));
    }
  });

  it('touches only responses to Metadata requests, across chunk boundaries', () => {
    const rw = kafkaRewriter(map)();
    rw.fromClient(metadataRequest(6, 42));
    const other = metadataResponse(6, 41, [['127.0.0.1', 6379]]);
    const meta = metadataResponse(6, 42, [['127.0.0.1', 6379]]);
    const stream = Buffer.concat([other, meta]);
    const out = Buffer.concat([rw.fromServer(stream.subarray(0, 30)), rw.fromServer(stream.subarray(30))]);
    expect(new FrameSplitter().push(out)).toEqual([other, metadataResponse(6, 42, [['127.0.0.1', 16379]])]);
  });
});
