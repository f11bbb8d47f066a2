// The orders producer of the API: idempotent kafkajs producers, acks=all, key = productId.
// kafkajs lets an idempotent producer have one produce request per broker in flight, so orders are
// micro-batched (everything queued when a producer is free goes out in one request) over a few
// producers ("lanes") working in parallel. A lane whose send fails is replaced (new producer id):
// a half-written batch can then never make the broker drop later orders as "duplicates".
// A failed send rejects with a ProduceError saying whether the batch may have been written: each
// lane has its own client whose sockets count the Produce requests that went out (produce-outcome.ts).
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from '../logging.js';
import type { KafkaClientOptions } from './client.js';
import { kafkaLogCreator } from './consumer.js';
import { encodeOrder, encodeOrders, orderKey, type OrderMessage, type OrderMessageVersion } from './order-message.js';
import { createOrderPartitioner } from './partitioner.js';
import { ProduceError, classifyProduceFailure, countingSocketFactory } from './produce-outcome.js';

export { ProduceError, type ProduceOutcome } from './produce-outcome.js';

export interface OrderProducerOptions {
  /** Brokers, client id, TLS and SASL (kafkaClientOptions(config, 'api')). */
  client: KafkaClientOptions;
  topic: string;
  logger: Logger;
  /** Retries of one produce request before the orders in it are answered 503 (their stock released). */
  retries: number;
  /** Broker ack timeout and request timeout, ms. */
  requestTimeoutMs: number;
  /** Most orders in one produce request. */
  maxBatch: number;
  /** Producers sending in parallel (each one request in flight). */
  lanes: number;
  /** 2 (default): one record per sale per produce request carrying its orders; 1: one record per order. */
  messageVersion?: OrderMessageVersion;
  /** Observability hook (metrics). */
  onBatch?: (size: number, ok: boolean, seconds: number) => void;
}

/** At most ~400 bytes per order: 1,000 orders stay well under Kafka's default 1 MB record limit. */
const MAX_ORDERS_PER_RECORD = 1_000;

interface Pending {
  order: OrderMessage;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Generation {
  producer: Producer;
  connecting: Promise<void>;
  connected: boolean;
  /** Set when connecting failed: orders fail at once (503) until the background reconnect succeeds. */
  connectError?: Error;
}

interface Lane {
  /** This lane's own client: its sockets carry only this lane's Produce requests. */
  kafka: Kafka;
  /** Produce requests handed to a socket so far (see countingSocketFactory). */
  producesWritten: number;
  gen: Generation;
  busy: boolean;
}

export class OrderProducer {
  /** The client, for admin work on the same brokers (ensureTopics). */
  readonly kafka: Kafka;
  private readonly lanes: Lane[];
  private queue: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: OrderProducerOptions) {
    const base = kafkaLogCreator(opts.logger.child({ kafkaClient: 'api-producer' }))();
    const config: KafkaConfig = {
      ...opts.client,
      connectionTimeout: 2_000,
      requestTimeout: opts.requestTimeoutMs,
      retry: { retries: opts.retries, initialRetryTime: 200, maxRetryTime: 2_000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        // Bounded retries are deliberate: see the lane replacement above.
        if (entry.log.message?.startsWith('Limiting retries for the idempotent producer')) return;
        base(entry);
      },
    };
    this.kafka = new Kafka(config);
    this.lanes = Array.from({ length: Math.max(1, opts.lanes) }, () => {
      const lane = { busy: false, producesWritten: 0 } as Lane;
      lane.kafka = new Kafka({ ...config, socketFactory: countingSocketFactory(() => lane.producesWritten++) });
      return lane;
    });
    for (const lane of this.lanes) lane.gen = this.newGeneration(lane);
  }

  /** True while every lane holds a broker connection (readiness). */
  get connected(): boolean {
    return !this.closed && this.lanes.every((l) => l.gen.connected);
  }

  /** Connects the producers; rejects if Kafka cannot be reached within the retry budget. */
  async connect(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.gen.connecting));
  }

  /**
   * Resolves once the order is acknowledged by all in-sync replicas; else rejects with a
   * ProduceError whose outcome says whether the order may be in the log anyway.
   */
  send(order: OrderMessage): Promise<void> {
    if (this.closed) return Promise.reject(new ProduceError('producer closed', 'not_written'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ order, resolve, reject });
      this.schedule();
    });
  }

  /** Waits for every queued order to be answered, then disconnects. */
  async close(): Promise<void> {
    if (this.queue.length || this.lanes.some((l) => l.busy)) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.closed = true;
    await Promise.all(this.lanes.map((l) => l.gen.producer.disconnect().catch(() => undefined)));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.drain);
  }

  private newGeneration(lane: Lane): Generation {
    const producer = lane.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: createOrderPartitioner,
      allowAutoTopicCreation: false,
    });
    const gen: Generation = { producer, connected: false, connecting: Promise.resolve() };
    producer.on(producer.events.CONNECT, () => (gen.connected = true));
    producer.on(producer.events.DISCONNECT, () => (gen.connected = false));
    gen.connecting = producer.connect().then(() => {
      gen.connected = true;
    });
    gen.connecting.catch((err: Error) => {
      gen.connectError = err;
      // Keep trying in the background, so readiness comes back with the broker even when no
      // order arrives (a not-ready pod gets no traffic to trigger a reconnect).
      this.opts.logger.warn({ err: err.message }, 'Kafka producer cannot connect; retrying');
      setTimeout(() => this.replace(lane, gen), 1_000).unref();
    });
    return gen;
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const lane = this.lanes.find((l) => !l.busy);
      if (!lane) return; // a lane finishing calls drain again
      this.sendOn(lane, this.queue.splice(0, this.opts.maxBatch));
    }
    if (!this.lanes.some((l) => l.busy)) for (const w of this.idleWaiters.splice(0)) w();
  };

  private sendOn(lane: Lane, batch: Pending[]): void {
    const gen = lane.gen;
    if (gen.connectError) {
      const err = new ProduceError(`Kafka unreachable, reconnecting: ${gen.connectError.message}`, 'not_written');
      this.opts.onBatch?.(batch.length, false, 0);
      for (const p of batch) p.reject(err);
      return;
    }
    lane.busy = true;
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    const writtenBefore = lane.producesWritten;
    const messages = this.records(batch);
    const onePartition = new Set(messages.map((m) => m.key)).size === 1;
    gen.connecting
      .then(() => gen.producer.send({ topic: this.opts.topic, acks: -1, timeout: this.opts.requestTimeoutMs, messages }))
      .then(
        () => {
          this.opts.onBatch?.(batch.length, true, seconds());
          for (const p of batch) p.resolve();
        },
        (err: Error) => {
          this.opts.onBatch?.(batch.length, false, seconds());
          const requests = lane.producesWritten - writtenBefore;
          const outcome = classifyProduceFailure(err, requests, onePartition);
          this.opts.logger.warn({ err: err.message, orders: batch.length, requests, outcome }, 'Kafka produce failed; orders answered 503');
          this.replace(lane, gen);
          const failed = new ProduceError(err.message, outcome);
          for (const p of batch) p.reject(failed);
        },
      )
      .finally(() => {
        lane.busy = false;
        this.drain();
      });
  }

  /** The Kafka records of one produce request: per order (v1), or one per sale in arrival order (v2). */
  private records(batch: Pending[]): Array<{ key: string; value: Buffer }> {
    if (this.opts.messageVersion === 1) return batch.map((p) => ({ key: orderKey(p.order), value: encodeOrder(p.order) }));
    const bySale = new Map<string, OrderMessage[]>();
    for (const { order } of batch) {
      const key = orderKey(order);
      const list = bySale.get(key);
      if (list) list.push(order);
      else bySale.set(key, [order]);
    }
    const records: Array<{ key: string; value: Buffer }> = [];
    for (const [key, orders] of bySale)
      for (let i = 0; i < orders.length; i += MAX_ORDERS_PER_RECORD) records.push({ key, value: encodeOrders(orders.slice(i, i + MAX_ORDERS_PER_RECORD)) });
    return records;
  }

  private replace(lane: Lane, failed: Generation): void {
    if (lane.gen !== failed || this.closed) return;
    failed.connected = false;
    failed.producer.disconnect().catch(() => undefined);
    lane.gen = this.newGeneration(lane);
  }
}
