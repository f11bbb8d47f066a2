// FlashSale informer with the client-node 1.4 pitfalls handled:
//  - a watch error (other than 410, which the library re-lists itself) does NOT restart the
//    informer: restart it here, with exponential backoff and a single pending timer (no flood);
//  - a watch can go silent without an error: a watchdog restarts it after WATCH_SILENCE_SECONDS
//    without any event (cheap: the restart re-watches from the last resourceVersion);
//  - after a restart, "add" fires only for new objects: the periodic resync covers the rest.
import { makeInformer, type Informer, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from '../../core/logging.js';
import { GROUP, PLURAL, VERSION, type FlashSale } from '../model/types.js';
import { describeError, type Kube } from './client.js';

export interface FlashSaleInformerOptions {
  namespace?: string;
  silenceMs: number;
  onChange: (sale: FlashSale) => void;
  onDelete: (sale: FlashSale) => void;
  logger: Logger;
}

export class FlashSaleInformer {
  private informer: (Informer<KubernetesObject> & ObjectCache<KubernetesObject>) | undefined;
  private lastActivityMs = Date.now();
  private backoffMs = 500;
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private running = false;
  private synced = false;

  constructor(
    private readonly kube: Kube,
    private readonly o: FlashSaleInformerOptions,
  ) {}

  /** True once the first list arrived (until then the cache is not the cluster's view). */
  hasSynced(): boolean {
    return this.synced;
  }

  list(): FlashSale[] {
    return (this.informer?.list() ?? []) as unknown as FlashSale[];
  }

  async start(): Promise<void> {
    const path = this.o.namespace
      ? `/apis/${GROUP}/${VERSION}/namespaces/${this.o.namespace}/${PLURAL}`
      : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
    const listFn = async () => {
      const list = await this.kube.listFlashSales(this.o.namespace);
      this.synced = true;
      this.backoffMs = 500; // the API answers again: reset the backoff
      this.touch();
      return list as never;
    };
    const inf = makeInformer(this.kube.kc, path, listFn);
    this.informer = inf;
    const changed = (obj: KubernetesObject) => {
      this.touch();
      this.o.onChange(obj as unknown as FlashSale);
    };
    inf.on('add', changed);
    inf.on('update', changed);
    inf.on('delete', (obj) => {
      this.touch();
      this.o.onDelete(obj as unknown as FlashSale);
    });
    inf.on('connect', () => this.touch());
    inf.on('error', (err) => {
      if (!this.running) return; // stop() aborts the watch: not a failure
      this.o.logger.warn({ err: describeError(err), retryInMs: this.backoffMs }, 'FlashSale watch failed; restarting');
      this.scheduleRestart();
    });
    this.running = true;
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastActivityMs >= this.o.silenceMs) {
        this.o.logger.info({ silentForMs: Date.now() - this.lastActivityMs }, 'FlashSale watch silent; restarting it');
        this.touch();
        void this.restartNow();
      }
    }, Math.min(this.o.silenceMs, 30_000));
    this.watchdog.unref();
    await this.restartNow();
  }

  private touch(): void {
    this.lastActivityMs = Date.now();
  }

  private scheduleRestart(): void {
    if (!this.running || this.restartTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restartNow();
    }, delay);
  }

  private async restartNow(): Promise<void> {
    if (!this.running || !this.informer) return;
    try {
      await this.informer.stop();
      await this.informer.start();
    } catch (e) {
      // start() rejects when the initial list fails (#447: never leave that unhandled)
      this.o.logger.warn({ err: describeError(e), retryInMs: this.backoffMs }, 'FlashSale list failed; retrying');
      this.scheduleRestart();
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdog);
    await this.informer?.stop();
  }
}
