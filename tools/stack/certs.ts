// The stack's own public-key infrastructure: one private CA per stack, a server certificate every
// TLS listener of the stack presents (Redis, PostgreSQL, Kafka), client certificates by name for
// mutual TLS, and a second "unknown" CA that no client trusts (tests prove a client refuses it).
// Invariant: the server certificate names every address a client dials: 127.0.0.1 and localhost
// on the host, and the node uplink address (tools/stack/node/net.ts) that pods dial, so
// verify-full / hostname checks pass from the host and from a pod alike.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { uplinkHostIp } from './node/net.js';
import type { StackState } from './state.js';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface StackPki {
  dir: string;
  /** The stack CA's certificate: what clients put in sslrootcert / ca / ssl.truststore. */
  caCert: string;
  /** The certificate every TLS listener of the stack presents, signed by the stack CA. */
  server: KeyPair;
  /** A CA no client is told about, and a server certificate it signed (for "unknown CA" tests). */
  unknownCaCert: string;
  unknownServer: KeyPair;
}

const DAYS = '3650';
const SUBJECT_PREFIX = '/O=Flux-Gate local stack';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string, cn: string): KeyPair {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  if (existsSync(pair.cert) && existsSync(pair.key)) return pair;
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', DAYS,
    '-subj', `${SUBJECT_PREFIX}/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', pair.key, '-out', pair.cert], dir);
  return pair;
}

/**
 * A leaf certificate signed by `ca`. Keys are PKCS#8 PEM (what Node, libpq, Redis and Kafka's PEM
 * key stores all read) and readable only by the owner, as PostgreSQL insists for its server key.
 */
function makeLeaf(dir: string, name: string, ca: KeyPair, cn: string, ext: string): KeyPair {
  const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  if (existsSync(pair.cert) && existsSync(pair.key)) return pair;
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `${SUBJECT_PREFIX}/CN=${cn}`,
    '-keyout', pair.key, '-out', csr], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', DAYS, '-extfile', extFile, '-out', pair.cert], dir);
  rmSync(csr, { force: true });
  rmSync(extFile, { force: true });
  chmodSync(pair.key, 0o600);
  return pair;
}

function serverExt(state: StackState): string {
  const sans = ['DNS:localhost', 'IP:127.0.0.1', `IP:${uplinkHostIp(state.nodeNet)}`];
  return `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${sans.join(',')}\n`;
}

export function pkiDir(state: StackState): string {
  return join(state.stateDir, 'tls');
}

/** Creates (once) and returns the stack CA, the server certificate and the unknown CA's pair. Idempotent. */
export function ensureStackPki(state: StackState): StackPki {
  const dir = pkiDir(state);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = makeCa(dir, 'ca', `Flux-Gate stack ${state.stackId} CA`);
  const unknown = makeCa(dir, 'unknown-ca', 'A CA nobody trusts');
  return {
    dir,
    caCert: ca.cert,
    server: makeLeaf(dir, 'server', ca, 'localhost', serverExt(state)),
    unknownCaCert: unknown.cert,
    unknownServer: makeLeaf(dir, 'unknown-server', unknown, 'localhost', serverExt(state)),
  };
}

const CLIENT_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * A client certificate for mutual TLS whose CN is `name` (PostgreSQL's `cert` auth maps the CN to
 * the database user; Kafka's SSL principal is `User:CN=name,...` unless a mapping rule says otherwise).
 */
export function ensureClientCert(state: StackState, name: string): KeyPair {
  if (!CLIENT_NAME.test(name)) throw new Error(`client certificate name ${JSON.stringify(name)}: use a lower-case letter, then letters, digits, "_" or "-"`);
  const dir = pkiDir(state);
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  if (!existsSync(ca.cert)) ensureStackPki(state);
  return makeLeaf(dir, `client-${name}`, ca, name, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
}
