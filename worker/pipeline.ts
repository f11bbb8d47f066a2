// One batch persisting per partition while kafkajs fetches and we decode the next one: on 2 cores
// the worker's CPU (fetch decoding, JSON) and PostgreSQL's overlap instead of taking turns.
//
// Invariant that keeps "never commit past an unpersisted message": batch N+1 of a partition starts
// persisting only after batch N is durable. If N is not (shutdown, rebalance, error), N+1 is dropped
// and the partition is rewound to N's first offset.
//
// A durable batch's offset commit (a Kafka round trip) runs off that chain: N+1's transaction starts
// as soon as N is durable, and N's commit runs meanwhile. The commits of a partition still run one
// after the other, in batch order, so the group's offset never moves backwards.

export interface JobOutcome {
  /** The batch is in PostgreSQL (and its poison in the DLQ). */
  durable: boolean;
  /** For a durable batch: its offset commit, run after the partition's previous commits (a failed one loses nothing). */
  commit?: () => Promise<void>;
}

export class PartitionPipelines {
  private readonly inFlight = new Map<string, Promise<JobOutcome>>();
  /** First offset of a batch that did not become durable, per partition, until someone rewinds. */
  private readonly failed = new Map<string, string>();
  /** The last offset commit of each partition (the chain its next commit waits for). */
  private readonly commits = new Map<string, Promise<void>>();

  static key(topic: string, partition: number): string {
    return `${topic}|${partition}`;
  }

  /** Waits for the partition's batch in flight, if any. Returns the first offset to rewind to if it did NOT become durable. */
  async waitPrevious(key: string): Promise<{ firstOffset: string } | undefined> {
    await this.inFlight.get(key);
    const firstOffset = this.failed.get(key);
    if (firstOffset === undefined) return undefined;
    this.failed.delete(key);
    return { firstOffset };
  }

  /** Waits until fewer than `limit` batches are in flight (one PostgreSQL connection each). */
  async waitForRoom(limit: number): Promise<void> {
    while (this.inFlight.size >= limit) await Promise.race(this.inFlight.values());
  }

  start(key: string, firstOffset: string, job: () => Promise<JobOutcome>): Promise<JobOutcome> {
    const done = job()
      .catch((): JobOutcome => ({ durable: false }))
      .then((outcome) => {
        if (!outcome.durable) this.failed.set(key, firstOffset);
        else if (outcome.commit) this.chainCommit(key, outcome.commit);
        if (this.inFlight.get(key) === done) this.inFlight.delete(key);
        return outcome;
      });
    this.inFlight.set(key, done);
    return done;
  }

  private chainCommit(key: string, commit: () => Promise<void>): void {
    const next: Promise<void> = (this.commits.get(key) ?? Promise.resolve())
      .then(commit)
      .catch(() => undefined)
      .finally(() => {
        if (this.commits.get(key) === next) this.commits.delete(key);
      });
    this.commits.set(key, next);
  }

  /** Waits for the partition's offset commits started so far (before giving the partition up). */
  async committed(key: string): Promise<void> {
    await this.commits.get(key);
  }

  /** After a rebalance the group restarts every partition from its committed offset: old failures are moot. */
  forgetFailures(): void {
    this.failed.clear();
  }

  get size(): number {
    return this.inFlight.size;
  }

  /** Waits until every batch in flight has finished, and every offset commit (shutdown). */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight.values());
    await Promise.all(this.commits.values());
  }
}
