// The one poll helper of the e2e suites (and the tools that drive real services).
/** Polls `probe` until it returns a value (not undefined or false); errors count as "not yet". */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 90_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
