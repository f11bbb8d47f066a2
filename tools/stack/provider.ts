// Where the e2e tests get their services from, in this order:
//   1. env            — REDIS_URL, DATABASE_URL and KAFKA_BROKERS all set (an external or already-up stack)
//   2. testcontainers — a Docker engine answers (a laptop, or CI with Docker)
//   3. local          — the local stack (processes, no Docker), started like `npm run stack:up`
// FLUXGATE_TEST_SERVICES=env|testcontainers|local forces one.
import { existsSync } from 'node:fs';
import { request } from 'node:http';

export const SERVICE_VARS = ['REDIS_URL', 'DATABASE_URL', 'KAFKA_BROKERS'] as const;
export const PROVIDER_KINDS = ['env', 'testcontainers', 'local'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

export interface ProviderChoice {
  kind: ProviderKind;
  reason: string;
}

/** Pure: decides from the environment and whether Docker answered (undefined = not probed). */
export function chooseProvider(env: Record<string, string | undefined>, dockerAvailable: boolean | undefined): ProviderChoice {
  const set = SERVICE_VARS.filter((v) => (env[v] ?? '') !== '');
  const unset = SERVICE_VARS.filter((v) => !set.includes(v));
  const forced = env.FLUXGATE_TEST_SERVICES;
  if (forced !== undefined && forced !== '') {
    if (!(PROVIDER_KINDS as readonly string[]).includes(forced)) {
      throw new Error(`FLUXGATE_TEST_SERVICES=${JSON.stringify(forced)} is not one of ${PROVIDER_KINDS.join(', ')}`);
    }
    if (forced === 'env' && unset.length > 0) {
      throw new Error(`FLUXGATE_TEST_SERVICES=env but ${unset.join(', ')} ${unset.length === 1 ? 'is' : 'are'} not set`);
    }
    if (forced === 'testcontainers' && dockerAvailable === false) {
      throw new Error('FLUXGATE_TEST_SERVICES=testcontainers but no Docker engine answered (DOCKER_HOST or /var/run/docker.sock)');
    }
    return { kind: forced as ProviderKind, reason: 'forced by FLUXGATE_TEST_SERVICES' };
  }
  if (set.length === SERVICE_VARS.length) return { kind: 'env', reason: `${SERVICE_VARS.join(', ')} are set` };
  if (set.length > 0) {
    throw new Error(
      `${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set but ${unset.join(', ')} ${unset.length === 1 ? 'is' : 'are'} not: ` +
        'set all three to use external services, or unset them to let the tests start their own',
    );
  }
  if (dockerAvailable === undefined) throw new Error('chooseProvider: Docker availability must be probed when no service variable is set');
  if (dockerAvailable) return { kind: 'testcontainers', reason: 'a Docker engine answered' };
  return { kind: 'local', reason: 'no service variables and no Docker engine: using the local stack' };
}

/** True when the choice depends on Docker (so the caller should probe it). */
export function needsDockerProbe(env: Record<string, string | undefined>): boolean {
  const forced = env.FLUXGATE_TEST_SERVICES;
  if (forced === 'env' || forced === 'local') return false;
  return forced === 'testcontainers' || SERVICE_VARS.every((v) => (env[v] ?? '') === '');
}

/** Where Docker's API would be: DOCKER_HOST (unix:// or tcp://) or the default socket. */
export function dockerEndpoint(env: Record<string, string | undefined>): { socketPath: string } | { host: string; port: number } | undefined {
  const host = env.DOCKER_HOST;
  if (host) {
    if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
    const m = /^tcp:\/\/([^:/]+):(\d+)/.exec(host);
    if (m) return { host: m[1]!, port: Number(m[2]) };
    return undefined;
  }
  return existsSync('/var/run/docker.sock') ? { socketPath: '/var/run/docker.sock' } : undefined;
}

/** GET /_ping on the Docker API with a short timeout. */
export function probeDocker(env: Record<string, string | undefined> = process.env, timeoutMs = 1500): Promise<boolean> {
  const endpoint = dockerEndpoint(env);
  if (!endpoint) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = request({ ...endpoint, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
