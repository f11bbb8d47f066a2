// The FlashSale CRD on the real kube-apiserver: it installs, the example applies, defaults are
// filled in, and invalid FlashSales are refused with a message naming the field.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { applyCrd, CRD_FILE, createNamespace, EXAMPLE_FILE, flashSale, getSale, kubectl, kubectlFails } from './support.js';

let ns = '';

beforeAll(async () => {
  await applyCrd();
  ns = await createNamespace('op-crd');
}, 120_000);

describe('FlashSale CRD', () => {
  it('applies twice (idempotent) and is served with its short name and category', async () => {
    await applyCrd();
    const resources = await kubectl(['api-resources', '--api-group=fluxgate.io', '-o', 'wide']);
    expect(resources).toMatch(/flashsales\s+fs\s+fluxgate\.io\/v1alpha1\s+true\s+FlashSale/);
  });

  it('the commented example applies as is, and the apiserver fills in the defaults', async () => {
    expect(readFileSync(EXAMPLE_FILE, 'utf8')).toContain('# ');
    await kubectl(['apply', '-n', ns, '-f', EXAMPLE_FILE]);
    const s = await getSale(ns, 'phone-drop');
    expect(s?.spec).toMatchObject({ productId: 'phone-x1', stock: 100, limits: { perUser: 1, rateLimitPerSecond: 5000 }, paused: false });
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('minimal', { productId: 'min-1', stock: 5, workers: { deployment: 'w' } }) });
    const m = await getSale(ns, 'minimal');
    expect(m?.spec).toEqual({
      productId: 'min-1',
      stock: 5,
      paused: false,
      limits: { perUser: 1 },
      workers: { deployment: 'w', minReplicas: 1, maxReplicas: 10, lagPerReplica: 100, activationLag: 0, scaleDownStabilizationSeconds: 60 },
    });
  });

  it('a queued sale gets the admission defaults; none is added to a direct sale', async () => {
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('queued', { productId: 'q-1', stock: 5, admission: { mode: 'queue', ratePerSecond: 50 } }) });
    expect((await getSale(ns, 'queued'))?.spec.admission).toEqual({ mode: 'queue', ratePerSecond: 50, tokenTtlSeconds: 120 });
  });

  it('kubectl get shows the printer columns, and -o wide the extra ones', async () => {
    const out = await kubectl(['get', 'fs', '-n', ns]);
    expect(out.split('\n')[0]).toMatch(/^NAME\s+PHASE\s+REMAINING\s+SOLD\s+LAG\s+WORKERS\s+REASON\s+AGE$/);
    const wide = await kubectl(['get', 'flashsales', '-n', ns, '-o', 'wide']);
    expect(wide.split('\n')[0]).toMatch(/^NAME\s+PHASE\s+REMAINING\s+SOLD\s+LAG\s+WORKERS\s+REASON\s+READY\s+CAP\s+AGE$/);
  });

  it('kubectl get fs shows why a sale is not Ready (the Ready condition\'s reason)', async () => {
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('why', { productId: 'why-1', stock: 1 }) });
    const ready = { type: 'Ready', status: 'False', reason: 'StockBelowSold', message: 'spec.stock 1 < sold 3', lastTransitionTime: '2030-01-01T00:00:00Z' };
    // As the operator writes it: through the status subresource.
    await kubectl(['patch', 'fs', 'why', '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Active', conditions: [ready] } })]);
    const row = (await kubectl(['get', 'fs', 'why', '-n', ns, '--no-headers'])).trim();
    expect(row).toMatch(/^why\s+Active\s+.*\bStockBelowSold\s+\S+$/);
  });

  /** Every property under spec, as a dotted path, with its schema node. */
  function specProperties(node: any, path: string, out: Array<[string, any]> = []): Array<[string, any]> {
    for (const [name, child] of Object.entries<any>(node.properties ?? {})) {
      out.push([`${path}.${name}`, child]);
      specProperties(child, `${path}.${name}`, out);
    }
    return out;
  }
  const schema = parse(readFileSync(CRD_FILE, 'utf8')).spec.versions[0].schema.openAPIV3Schema;
  const fields = [['spec', schema.properties.spec], ...specProperties(schema.properties.spec, 'spec')] as Array<[string, any]>;

  it.each(fields.map(([p]) => p))('%s has a description in the CRD (kubectl explain shows it)', (path) => {
    const node = fields.find(([p]) => p === path)![1];
    expect(String(node.description ?? '').trim().length, `${path} needs a description in crds/flashsale.yaml`).toBeGreaterThan(10);
  });

  it('kubectl explain flashsale.spec documents every field from the served schema', async () => {
    const explained = await kubectl(['explain', 'flashsale.spec', '--recursive=false']);
    expect(explained).toContain(schema.properties.spec.description.split(' ').slice(0, 4).join(' '));
    for (const [path, node] of fields.filter(([p]) => p.split('.').length === 2)) {
      const name = path.split('.')[1]!;
      expect(explained, path).toMatch(new RegExp(`^  ${name}\\s`, 'm'));
      expect(explained.replace(/\s+/g, ' '), path).toContain(String(node.description).replace(/\s+/g, ' ').slice(0, 30));
    }
    const workers = await kubectl(['explain', 'flashsale.spec.workers']);
    expect(workers.replace(/\s+/g, ' ')).toContain('Lower bound of the worker count');
  });

  const invalid: Array<[string, Record<string, unknown>, RegExp]> = [
    ['negative stock', { productId: 'p', stock: -1 }, /spec\.stock: Invalid value: -1: spec\.stock in body should be greater than or equal to 0/],
    ['stock not an integer', { productId: 'p', stock: 1.5 }, /spec\.stock: Invalid value: "(number|float64)": spec\.stock in body must be of type integer/],
    ['stock a string', { productId: 'p', stock: '10' }, /spec\.stock: Invalid value: "string": spec\.stock in body must be of type integer/],
    ['stock missing', { productId: 'p' }, /spec\.stock: Required value/],
    ['productId missing', { stock: 1 }, /spec\.productId: Required value/],
    ['productId with a space', { productId: 'bad id', stock: 1 }, /spec\.productId: Invalid value: "bad id": spec\.productId in body should match/],
    ['productId starting with a dash', { productId: '-x', stock: 1 }, /spec\.productId: Invalid value: "-x"/],
    ['productId too long', { productId: 'p'.repeat(129), stock: 1 }, /spec\.productId: Too long: may not be (longer than|more than) 128/],
    ['endsAt before startsAt', { productId: 'p', stock: 1, startsAt: '2030-01-01T11:00:00Z', endsAt: '2030-01-01T10:00:00Z' }, /spec\.endsAt: Invalid value: .*spec\.endsAt must be after spec\.startsAt/],
    ['endsAt equal to startsAt', { productId: 'p', stock: 1, startsAt: '2030-01-01T10:00:00Z', endsAt: '2030-01-01T10:00:00Z' }, /spec\.endsAt must be after spec\.startsAt/],
    ['startsAt not a date-time', { productId: 'p', stock: 1, startsAt: 'tomorrow' }, /spec\.startsAt: Invalid value: "tomorrow": spec\.startsAt in body must be of type date-time/],
    ['perUser 0', { productId: 'p', stock: 1, limits: { perUser: 0 } }, /spec\.limits\.perUser: Invalid value: 0: spec\.limits\.perUser in body should be greater than or equal to 1/],
    ['rateLimitPerSecond 0', { productId: 'p', stock: 1, limits: { rateLimitPerSecond: 0 } }, /spec\.limits\.rateLimitPerSecond: Invalid value: 0/],
    ['workers without a deployment', { productId: 'p', stock: 1, workers: { maxReplicas: 3 } }, /spec\.workers\.deployment: Required value/],
    ['workers maxReplicas below minReplicas', { productId: 'p', stock: 1, workers: { deployment: 'w', minReplicas: 5, maxReplicas: 2 } }, /spec\.workers\.maxReplicas: Invalid value: .*maxReplicas must be >= spec\.workers\.minReplicas/],
    ['workers lagPerReplica 0', { productId: 'p', stock: 1, workers: { deployment: 'w', lagPerReplica: 0 } }, /spec\.workers\.lagPerReplica: Invalid value: 0/],
    ['workers deployment not a DNS name', { productId: 'p', stock: 1, workers: { deployment: 'Workers_1' } }, /spec\.workers\.deployment: Invalid value: "Workers_1"/],
    ['stabilization above an hour', { productId: 'p', stock: 1, workers: { deployment: 'w', scaleDownStabilizationSeconds: 3601 } }, /spec\.workers\.scaleDownStabilizationSeconds: Invalid value: 3601/],
    ['paused not a boolean', { productId: 'p', stock: 1, paused: 'yes' }, /spec\.paused: Invalid value: "string": spec\.paused in body must be of type boolean/],
    ['an unknown field', { productId: 'p', stock: 1, stok: 5 }, /unknown field "spec\.stok"/],
    ['admission mode unknown', { productId: 'p', stock: 1, admission: { mode: 'lottery', ratePerSecond: 5 } }, /spec\.admission\.mode: Unsupported value: "lottery"/],
    ['a queue without its rate', { productId: 'p', stock: 1, admission: { mode: 'queue' } }, /spec\.admission\.ratePerSecond: Required value: spec\.admission\.ratePerSecond is required with a queue mode/],
    ['admission ratePerSecond 0', { productId: 'p', stock: 1, admission: { mode: 'queue', ratePerSecond: 0 } }, /spec\.admission\.ratePerSecond: Invalid value: 0/],
    ['tokenTtlSeconds below 5', { productId: 'p', stock: 1, admission: { mode: 'queue', ratePerSecond: 5, tokenTtlSeconds: 1 } }, /spec\.admission\.tokenTtlSeconds: Invalid value: 1/],
    ['maxQueue 0', { productId: 'p', stock: 1, admission: { mode: 'queue', ratePerSecond: 5, maxQueue: 0 } }, /spec\.admission\.maxQueue: Invalid value: 0/],
  ];
  it.each(invalid)('refuses %s, naming the field', async (_name, spec, message) => {
    const err = await kubectlFails(['apply', '-n', ns, '-f', '-'], { input: flashSale('invalid', spec) });
    expect(err).toMatch(message);
    expect(await getSale(ns, 'invalid')).toBeUndefined();
  });

  it('productId cannot be changed after creation', async () => {
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('fixed', { productId: 'fixed-1', stock: 1 }) });
    const err = await kubectlFails(['apply', '-n', ns, '-f', '-'], { input: flashSale('fixed', { productId: 'fixed-2', stock: 1 }) });
    expect(err).toMatch(/spec\.productId: Invalid value: "fixed-2": spec\.productId is immutable/);
  });

  it('status is a subresource: a spec write cannot set it', async () => {
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ ...JSON.parse(flashSale('nostatus', { productId: 'ns-1', stock: 1 })), status: { phase: 'SoldOut' } }) });
    expect((await getSale(ns, 'nostatus'))?.status).toBeUndefined();
  });
});
