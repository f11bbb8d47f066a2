// RESP (Redis protocol), just enough for the Sentinel proxy: Sentinels tell clients where the
// master and the other Sentinels are, and the client then connects there directly, which would
// bypass the proxy. This rewriter maps those ports (in `SENTINEL get-master-addr-by-name`,
// `SENTINEL sentinels` and +switch-master messages) to proxy ports; every other reply passes as is.
import type { StreamRewriter } from './proxy.js';

export type Resp = { t: '+' | '-' | ':'; s: string } | { t: '$'; b: Buffer | null } | { t: '*'; a: Resp[] | null };

/** Parses one value at `at`; undefined when the buffer ends first. */
export function parseResp(b: Buffer, at = 0): { v: Resp; end: number } | undefined {
  const eol = b.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const t = String.fromCharCode(b[at]!);
  const line = b.toString('latin1', at + 1, eol);
  if (t === '+' || t === '-' || t === ':') return { v: { t, s: line }, end: eol + 2 };
  const n = Number(line);
  if (t === '$') {
    if (n < 0) return { v: { t, b: null }, end: eol + 2 };
    if (b.length < eol + 2 + n + 2) return undefined;
    return { v: { t, b: b.subarray(eol + 2, eol + 2 + n) }, end: eol + 2 + n + 2 };
  }
  if (t !== '*') throw new Error(`unexpected RESP type ${JSON.stringify(t)}`);
  if (n < 0) return { v: { t, a: null }, end: eol + 2 };
  const a: Resp[] = [];
  let p = eol + 2;
  for (let i = 0; i < n; i++) {
    const item = parseResp(b, p);
    if (!item) return undefined;
    a.push(item.v);
    p = item.end;
  }
  return { v: { t, a }, end: p };
}

export function encodeResp(v: Resp): Buffer {
  if (v.t === '$') return v.b === null ? Buffer.from('$-1\r\n') : Buffer.concat([Buffer.from(`$${v.b.length}\r\n`), v.b, Buffer.from('\r\n')]);
  if (v.t === '*') return v.a === null ? Buffer.from('*-1\r\n') : Buffer.concat([Buffer.from(`*${v.a.length}\r\n`), ...v.a.map(encodeResp)]);
  return Buffer.from(`${v.t}${v.s}\r\n`);
}

const bulk = (v: Resp | undefined) => (v?.t === '$' && v.b ? v.b.toString() : undefined);

/** Maps the ports a Sentinel reply names: [ip, port] pairs, "port" fields, and +switch-master payloads. */
export function rewriteSentinelReply(v: Resp, mapPort: (port: number) => number): Resp {
  if (v.t !== '*' || !v.a) return v;
  const a = v.a.map((x) => rewriteSentinelReply(x, mapPort));
  const mapped = (s: string) => ({ t: '$' as const, b: Buffer.from(String(/^\d+$/.test(s) ? mapPort(Number(s)) : s)) });
  if (a.length === 2 && bulk(a[0]) !== undefined && /^\d+$/.test(bulk(a[1]) ?? '') && /^[\d.:a-f]+$/.test(bulk(a[0])!)) a[1] = mapped(bulk(a[1])!);
  for (let i = 0; i + 1 < a.length; i++) if (bulk(a[i]) === 'port' && bulk(a[i + 1]) !== undefined) a[i + 1] = mapped(bulk(a[i + 1])!);
  if (a.length === 3 && bulk(a[0]) === 'message' && bulk(a[1]) === '+switch-master') {
    const words = bulk(a[2])!.split(' ').map((w, i) => (i === 2 || i === 4 ? String(mapPort(Number(w))) : w));
    a[2] = { t: '$', b: Buffer.from(words.join(' ')) };
  }
  return { t: '*', a };
}

export function sentinelRewriter(mapPort: (port: number) => number): () => StreamRewriter {
  return () => {
    let buf: Buffer = Buffer.alloc(0);
    return {
      fromClient: (chunk) => chunk,
      fromServer(chunk) {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        const out: Buffer[] = [];
        for (;;) {
          const r = parseResp(buf);
          if (!r) break;
          out.push(encodeResp(rewriteSentinelReply(r.v, mapPort)));
          buf = buf.subarray(r.end);
        }
        return Buffer.concat(out);
      },
    };
  };
}
