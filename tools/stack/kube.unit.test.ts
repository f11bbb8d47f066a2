import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kubeconfigForToken, readKubeconfig } from './kube.js';

const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const adminDoc = (token?: string) => `apiVersion: v1
kind: Config
clusters:
  - name: flux-gate
    cluster:
      server: https://127.0.0.1:26443
      certificate-authority-data: ${CA.toString('base64')}
users:
  - name: admin
    user: ${token ? `{ token: ${token} }` : '{}'}
contexts:
  - name: flux-gate
    context: { cluster: flux-gate, user: admin }
current-context: flux-gate
`;

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fg-kube-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('kubeconfig helpers', () => {
  it('reads server, CA and token of the current context', () => {
    writeFileSync(join(dir, 'kubeconfig'), adminDoc('admintoken'));
    expect(readKubeconfig(join(dir, 'kubeconfig'))).toEqual({ server: 'https://127.0.0.1:26443', ca: CA, token: 'admintoken' });
  });

  it('names the file when the kubeconfig has no bearer token', () => {
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, adminDoc());
    expect(() => readKubeconfig(path)).toThrow(`${path}: expected a current context with a server, certificate-authority-data and a bearer token`);
  });

  it('writes a private kubeconfig for a token, same server and CA', () => {
    writeFileSync(join(dir, 'kubeconfig'), adminDoc('admintoken'));
    const path = kubeconfigForToken('sa-token', { kubeconfig: join(dir, 'kubeconfig'), user: 'operator' });
    expect(path.startsWith(join(dir, 'tokens', 'kubeconfig-'))).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readKubeconfig(path)).toEqual({ server: 'https://127.0.0.1:26443', ca: CA, token: 'sa-token' });
    expect(readFileSync(path, 'utf8')).toContain('name: operator');
  });

  it('asks for a kubeconfig when none is given and KUBECONFIG is unset', () => {
    const saved = process.env.KUBECONFIG;
    delete process.env.KUBECONFIG;
    try {
      expect(() => readKubeconfig()).toThrow('no kubeconfig: pass one or set KUBECONFIG');
    } finally {
      if (saved !== undefined) process.env.KUBECONFIG = saved;
    }
  });
});
