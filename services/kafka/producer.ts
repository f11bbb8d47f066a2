// The orders producer of the API: idempotent kafkajs producer, acks=all, key = productId,
// with micro-batching (everything that arrives while a produce request is in flight goes out
// in the next request) and a fresh producer id after any failed send.
import { Kafka, Partitioners, logLevel, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from '../logging.js';
import { kafkaLogCreator } from './consumer.js';
import { encodeOrder, orderKey, type OrderMessage } from './order-message.js';

export interface OrderProducerOptions {
  brokers: string[];
  clientId: string;
  topic: string;
  logger: Logger;
  /** Retries of one produce request before the orders in it are answered 503 (their stock released). */
  retries: number;
  /** Broker ack timeout and request timeout, ms. */
  requestTimeoutMs: number;
  /** Most orders in one produce request. */
  maxBatch: number;
  /** Observability hooks (metrics). */
  onBatch?: (size: number, ok: boolean, seconds: number) => void;
}

interface Pending {
  message: { key: string; value: Buffer };
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

export class OrderProducer {
  /** The client, for admin work on the same brokers (ensureTopics). */
  readonly kafka: Kafka;
  private gen: Generation;
  private queue: Pending[] = [];
  private inFlight = false;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: OrderProducerOptions) {
    const base = kafkaLogCreator(opts.logger.child({ kafkaClient: 'api-producer' }))();
    this.kafka = new Kafka({
      clientId: `${opts.clientId}-api`,
      brokers: opts.brokers,
      connectionTimeout: 2_000,
      requestTimeout: opts.requestTimeoutMs,
      retry: { retries: opts.retries, initialRetryTime: 200, maxRetryTime: 2_000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        // Bounded retries are deliberate: a failed send is answered 503 and its producer replaced
        // (new producer id), so a half-written batch can never swallow later orders as "duplicates".
        if (entry.log.message?.startsWith('Limiting retries for the idempotent producer')) return;
        base(entry);
      },
    });
    this.gen = this.newGeneration();
  }

  /** True while the current producer holds a broker connection (readiness). */
  get connected(): boolean {
    return this.gen.connected && !this.closed;
  }

  /** Connects the first producer; rejects if Kafka cannot be reached within the retry budget. */
  async connect(): Promise<void> {
    await this.gen.connecting;
  }

  /** Resolves once the order is acknowledged by all in-sync replicas; rejects if it is not. */
  send(order: OrderMessage): Promise<void> {
    if (this.closed) return Promise.reject(new Error('producer closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ message: { key: orderKey(order), value: encodeOrder(order) }, resolve, reject });
      if (!this.inFlight && !this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drain);
      }
    });
  }

  /** Waits for every queued order to be answered, then disconnects. */
  async close(): Promise<void> {
    if (this.queue.length || this.inFlight) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.closed = true;
    await this.gen.producer.disconnect().catch(() => undefined);
  }

  private newGeneration(): Generation {
    const producer = this.kafka.producer({
      idempotent: true,
      // kafkajs keeps one produce request per broker in flight for an idempotent producer anyway;
      // batching here is what gives throughput.
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
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
      setTimeout(() => this.replace(gen), 1_000).unref();
    });
    return gen;
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    if (this.inFlight) return;
    if (this.queue.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const batch = this.queue.splice(0, this.opts.maxBatch);
    this.inFlight = true;
    const gen = this.gen;
    if (gen.connectError) {
      const err = new Error(`Kafka unreachable, reconnecting: ${gen.connectError.message}`);
      for (const p of batch) p.reject(err);
      this.inFlight = false;
      this.opts.onBatch?.(batch.length, false, 0);
      this.scheduled = true;
      setImmediate(this.drain);
      return;
    }
    const started = process.hrtime.bigint();
    gen.connecting
      .then(() =>
        gen.producer.send({
          topic: this.opts.topic,
          acks: -1,
          timeout: this.opts.requestTimeoutMs,
          messages: batch.map((p) => p.message),
        }),
      )
      .then(
        () => {
          this.opts.onBatch?.(batch.length, true, Number(process.hrtime.bigint() - started) / 1e9);
          for (const p of batch) p.resolve();
        },
        (err: Error) => {
          this.opts.onBatch?.(batch.length, false, Number(process.hrtime.bigint() - started) / 1e9);
          this.opts.logger.warn({ err: err.message, orders: batch.length }, 'Kafka produce failed; orders answered 503 and released');
          this.replace(gen);
          for (const p of batch) p.reject(err);
        },
      )
      .finally(() => {
        this.inFlight = false;
        this.drain();
      });
  };

  private replace(failed: Generation): void {
    if (this.gen !== failed || this.closed) return;
    failed.connected = false;
    failed.producer.disconnect().catch(() => undefined);
    this.gen = this.newGeneration();
  }
}
