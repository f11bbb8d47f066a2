// Whether a failed produce may have written its batch. Invariant: "not written" is answered only
// when it is certain (no produce request reached a socket, or the one request sent was refused by
// the broker before it appended); everything else is "maybe", and a maybe-written order must keep
// its stock and its idempotency key (api/order-service.ts).
import net from 'node:net';
import tls from 'node:tls';
import type { ISocketFactory } from 'kafkajs';

export type ProduceOutcome = 'not_written' | 'maybe_written';

/** A failed produce, with what the API may do about it. */
export class ProduceError extends Error {
  constructor(
    message: string,
    readonly outcome: ProduceOutcome,
  ) {
    super(message);
    this.name = 'ProduceError';
  }
}

/**
 * Broker error codes of a Produce response that mean the partition leader refused the batch before
 * appending it (Kafka's ReplicaManager/Partition checks). Not here, because the batch may be in the
 * log: REQUEST_TIMED_OUT (appended, replicas late), NOT_ENOUGH_REPLICAS_AFTER_APPEND, NETWORK_EXCEPTION,
 * KAFKA_STORAGE_ERROR, UNKNOWN_SERVER_ERROR, DUPLICATE_SEQUENCE_NUMBER (already written).
 */
const REFUSED_BEFORE_APPEND = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'NOT_ENOUGH_REPLICAS',
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'CORRUPT_MESSAGE', 'INVALID_RECORD', 'INVALID_TIMESTAMP',
  'INVALID_REQUIRED_ACKS', 'TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH',
  'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_ID_MAPPING', 'UNSUPPORTED_FOR_MESSAGE_FORMAT', 'UNSUPPORTED_VERSION',
]);

/** The kafkajs error chain, outermost first (KafkaJSNumberOfRetriesExceeded wraps the last attempt's error). */
function chain(err: unknown): Array<{ name?: string; type?: string }> {
  const out: Array<{ name?: string; type?: string; cause?: unknown }> = [];
  let e = err as { name?: string; type?: string; cause?: unknown } | undefined;
  while (e && typeof e === 'object' && out.length < 10) {
    out.push(e);
    e = e.cause as typeof e;
  }
  return out;
}

/**
 * kafkajs reports only the last attempt's error, so an earlier attempt that timed out is invisible:
 * the number of produce requests written decides first. One request sent and refused before append
 * is certain only when the batch is for one partition (kafkajs throws the first partition error of a
 * response; other partitions of the same request may have been written).
 */
export function classifyProduceFailure(err: unknown, requestsWritten: number, onePartition: boolean): ProduceOutcome {
  if (requestsWritten === 0) return 'not_written';
  if (requestsWritten > 1 || !onePartition) return 'maybe_written';
  const refused = chain(err).some((e) => e.name === 'KafkaJSProtocolError' && e.type !== undefined && REFUSED_BEFORE_APPEND.has(e.type));
  return refused ? 'not_written' : 'maybe_written';
}

/** Kafka's request header starts with size (int32), then api_key (int16); Produce is key 0. */
const PRODUCE_API_KEY = 0;

/**
 * kafkajs's socket factory (same keep-alive) that calls `onProduce` each time a Produce request is
 * handed to a socket: from then on, the broker may have it. kafkajs writes each request in one call.
 */
export function countingSocketFactory(onProduce: () => void): ISocketFactory {
  return ({ host, port, ssl, onConnect }) => {
    const socket = ssl
      ? tls.connect({ host, port, ...(!net.isIP(host) ? { servername: host } : {}), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === PRODUCE_API_KEY) onProduce();
      return write(chunk, ...rest);
    }) as typeof socket.write;
    return socket;
  };
}
