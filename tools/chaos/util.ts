// Small helpers of the chaos harness: retries and quantiles (ports, polling and sleeping come from tools/stack/proc.ts).
import { sleep } from '../stack/proc.js';

export { freePort, sleep, waitFor } from '../stack/proc.js';

/** Runs fn up to `times` times (a second apart) until it succeeds: a loaded machine makes probes time out. */
export async function retrying<T>(times: number, fn: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= times) throw e;
      await sleep(1000);
    }
  }
}
