// Hot-path metrics: a counter and a histogram whose labelled series are plain numbers bumped by the
// request path and handed to prom-client only when /metrics is scraped. Same names, labels and
// exposition as prom-client's own Counter and Histogram (tally.test.ts compares the text).
// Why: a prom-client child re-hashes and re-validates its labels on every inc/observe (a label
// object and a hash string per call); at tens of thousands of answers per second that is measurable
// (docs/perf/profile-after.md). A tally child is created once per label set and kept by the caller.
import { Counter, type Metric, type Registry } from 'prom-client';

export interface TallyConfig<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers: Registry[];
}

export interface CounterChild {
  inc(n?: number): void;
}

interface CounterSeries<L extends string> extends CounterChild {
  labels: Partial<Record<L, string>>;
  /** Counted since the series was created; `flushed` of it are in prom-client already. */
  value: number;
  flushed: number;
}

/** A prom-client Counter whose series are counted as plain numbers and flushed at scrape time. */
export class TallyCounter<L extends string = string> {
  private readonly counter: Counter<L>;
  private readonly series = new Map<string, CounterSeries<L>>();
  private readonly labelNames: readonly L[];

  constructor(cfg: TallyConfig<L>) {
    this.labelNames = cfg.labelNames ?? [];
    const series = this.series;
    this.counter = new Counter<L>({
      name: cfg.name,
      help: cfg.help,
      labelNames: this.labelNames,
      registers: cfg.registers,
      collect() {
        for (const s of series.values()) {
          if (s.value === s.flushed) continue;
          this.inc(s.labels, s.value - s.flushed);
          s.flushed = s.value;
        }
      },
    });
  }

  /** The series for these label values (in labelNames order), created at 0 and exported from now on. */
  child(...values: string[]): CounterChild {
    const key = seriesKey(this.labelNames, values);
    let s = this.series.get(key);
    if (!s) {
      const labels = labelsOf(this.labelNames, values) as Partial<Record<L, string>>;
      s = { labels, value: 0, flushed: 0, inc: (n = 1) => void (s!.value += n) };
      this.counter.inc(labels, 0);
      this.series.set(key, s);
    }
    return s;
  }
}

export interface HistogramChild {
  observe(value: number): void;
}

interface HistogramSeries extends HistogramChild {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative); the last slot is above the highest bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram in prom-client's registry (registered as a metric object: the registry only calls
 * get() and getForPromString()), whose observations are tallied per bucket as plain numbers.
 */
export class TallyHistogram<L extends string = string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly series = new Map<string, HistogramSeries>();
  private readonly names: readonly L[];
  private readonly bounds: number[];

  constructor(cfg: TallyConfig<L> & { buckets: number[] }) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.names = cfg.labelNames ?? [];
    this.bounds = [...cfg.buckets].sort((a, b) => a - b);
    for (const r of cfg.registers) r.registerMetric(this as unknown as Metric);
    // Like prom-client: a histogram without labels is exported (at 0) before its first observation.
    if (this.names.length === 0) this.child();
  }

  /** The series for these label values (in labelNames order); exported once observed (as prom-client does). */
  child(...values: string[]): HistogramChild {
    const key = seriesKey(this.names, values);
    let s = this.series.get(key);
    if (!s) {
      const bounds = this.bounds;
      const series: HistogramSeries = {
        labels: labelsOf(this.names, values),
        counts: new Float64Array(bounds.length + 1),
        sum: 0,
        count: 0,
        observe(v: number) {
          let i = 0;
          while (i < bounds.length && v > bounds[i]!) i++;
          series.counts[i]!++;
          series.sum += v;
          series.count++;
        },
      };
      this.series.set(key, (s = series));
    }
    return s;
  }

  /** The exposition prom-client's registry writes for a Histogram (same shape as its own). */
  async getForPromString() {
    const values: HistogramValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      if (s.count === 0 && this.names.length > 0) continue;
      const shared = s.labels;
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: shared, value: acc, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** As prom-client's get() (getMetricsAsJSON): each value carries its series' labels. */
  async get() {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...v.labels, ...sharedLabels } })) };
  }

  reset(): void {
    this.series.clear();
  }
}

interface HistogramValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null;
}

function seriesKey(names: readonly string[], values: string[]): string {
  if (values.length !== names.length) throw new Error(`expected ${names.length} label values (${names.join(', ')}), got ${values.length}`);
  return values.join('\u0000');
}

function labelsOf(names: readonly string[], values: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  names.forEach((n, i) => (labels[n] = values[i]!));
  return labels;
}
