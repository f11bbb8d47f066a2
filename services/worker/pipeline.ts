// One batch persisting per partition while kafkajs fetches and we decode the next one: on 2 cores
// the worker's CPU (fetch decoding, JSON) and PostgreSQL's overlap instead of taking turns.
//
// Invariant that keeps "never commit past an unpersisted message": batch N+1 of a partition starts
// persisting only after batch N is durable. If N is not (shutdown, rebalance, error), N+1 is dropped
// and the partition is rewound to N's first offset.

export interface JobOutcome {
  /** The batch is in PostgreSQL (and its poison in the DLQ); its offset commit may still have failed, harmlessly. */
  durable: boolean;
}

interface InFlight {
  firstOffset: string;
  done: Promise<JobOutcome>;
}

export class PartitionPipelines {
  private readonly inFlight = new Map<string, InFlight>();

  static key(topic: string, partition: number): string {
    return `${topic}|${partition}`;
  }

  /** Waits for the partition's batch in flight, if any. Returns it when it did NOT become durable. */
  async waitPrevious(key: string): Promise<{ firstOffset: string } | undefined> {
    const prev = this.inFlight.get(key);
    if (!prev) return undefined;
    const outcome = await prev.done;
    if (this.inFlight.get(key) === prev) this.inFlight.delete(key);
    return outcome.durable ? undefined : { firstOffset: prev.firstOffset };
  }

  start(key: string, firstOffset: string, job: () => Promise<JobOutcome>): Promise<JobOutcome> {
    const done = job().catch(() => ({ durable: false }));
    this.inFlight.set(key, { firstOffset, done });
    return done;
  }

  get size(): number {
    return this.inFlight.size;
  }

  /** Waits until every batch in flight has finished (shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
  }
}
