import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmdline, isOurProcess, withLock } from './proc.js';

describe('isOurProcess', () => {
  const markers = [process.execPath];

  it('knows this process by its command line', () => {
    expect(isOurProcess(process.pid, markers)).toBe(true);
    expect(isOurProcess(process.pid, ['/no/such/binary'])).toBe(false);
  });

  it('reads again while a live process shows an empty command line (in the middle of an exec)', () => {
    // Measured on this machine: `env` exec'ing containerd with a cold page cache reads as "" for
    // ~22 ms; a node start polled right then took a live containerd for dead.
    let reads = 0;
    const midExec = (pid: number) => (++reads <= 3 ? '' : cmdline(pid));
    expect(isOurProcess(process.pid, markers, midExec)).toBe(true);
    expect(reads).toBe(4);
  });

  it('gives up after 20 more empty reads, 50 ms apart', () => {
    let reads = 0;
    expect(isOurProcess(process.pid, markers, () => (reads++, ''))).toBe(false);
    expect(reads).toBe(21);
  });
});

describe('withLock', () => {
  it('creates the lock\'s folder on a cold cache, and removes the lock afterwards', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fg-lock-'));
    try {
      const file = join(root, 'image', 'pause-abc.lock');
      expect(await withLock(file, 1_000, 'test', async () => existsSync(file))).toBe(true);
      expect(existsSync(file)).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
