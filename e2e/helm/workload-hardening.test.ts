// Every container of every rendered workload: resources, probes (long-running ones) and the
// restricted securityContext. A table over defaults and all-on, so a new template cannot slip.
import { beforeAll, describe, expect, it } from 'vitest';
import { ALL_ON, podSpecOf, template, type K8sObject } from './chart.js';

interface Row {
  values: string;
  object: string;
  container: string;
  longRunning: boolean;
  pod: any;
  c: any;
}

const renders: Record<string, K8sObject[]> = {};
beforeAll(async () => {
  renders.default = await template();
  renders['all-on'] = await template({ valuesFiles: [ALL_ON] });
});

function rows(): Row[] {
  const out: Row[] = [];
  for (const [values, objects] of Object.entries(renders)) {
    for (const o of objects) {
      const pod = podSpecOf(o);
      if (!pod) continue;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        out.push({ values, object: `${o.kind}/${o.metadata.name}`, container: c.name, longRunning: o.kind === 'Deployment', pod, c });
      }
    }
  }
  return out;
}

describe('workload hardening', () => {
  it('renders the expected workloads', () => {
    const names = rows().filter((r) => r.values === 'default').map((r) => `${r.object}:${r.container}`);
    expect(names.sort()).toEqual([
      'Deployment/fg-flux-gate-api:api',
      'Deployment/fg-flux-gate-operator:operator',
      'Deployment/fg-flux-gate-worker:worker',
      'Job/fg-flux-gate-migrate:migrate',
      'Pod/fg-flux-gate-test-api:readyz',
    ]);
  });

  it('every container has cpu and memory requests and limits', () => {
    for (const r of rows()) {
      const where = `${r.values} ${r.object} ${r.container}`;
      for (const kind of ['requests', 'limits'])
        for (const res of ['cpu', 'memory']) expect(r.c.resources?.[kind]?.[res], `${where} resources.${kind}.${res}`).toBeDefined();
    }
  });

  it('every long-running container has startup, liveness (/healthz) and readiness (/readyz) probes', () => {
    const longRunning = rows().filter((r) => r.longRunning);
    expect(longRunning).toHaveLength(6);
    for (const r of longRunning) {
      const where = `${r.values} ${r.object} ${r.container}`;
      expect(r.c.livenessProbe?.httpGet?.path, `${where} livenessProbe`).toBe('/healthz');
      expect(r.c.readinessProbe?.httpGet?.path, `${where} readinessProbe`).toBe('/readyz');
      expect(r.c.startupProbe?.httpGet?.path, `${where} startupProbe`).toBe('/healthz');
      expect(r.c.ports?.map((p: any) => p.name), `${where} ports`).toContain(r.c.livenessProbe.httpGet.port);
    }
  });

  it('every container runs restricted: non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp', () => {
    for (const r of rows()) {
      const where = `${r.values} ${r.object} ${r.container}`;
      expect(r.c.securityContext, where).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(r.pod.securityContext, `${where} pod securityContext`).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(r.pod.securityContext.runAsUser, `${where} runAsUser`).toBeGreaterThan(0);
      expect(r.c.securityContext.privileged, where).not.toBe(true);
    }
  });

  it('only the operator gets a Kubernetes API token', () => {
    for (const r of rows()) {
      const where = `${r.values} ${r.object}`;
      if (r.container === 'operator') expect(r.pod.serviceAccountName, where).toMatch(/operator$/);
      else expect(r.pod.automountServiceAccountToken, where).toBe(false);
    }
  });

  it('the api drains: preStop sleep shorter than the grace period', () => {
    for (const r of rows().filter((x) => x.container === 'api')) {
      const sleep = Number(r.c.lifecycle.preStop.exec.command[1]);
      expect(r.c.lifecycle.preStop.exec.command[0]).toBe('sleep');
      expect(sleep).toBe(r.values === 'default' ? 10 : 15);
      expect(r.pod.terminationGracePeriodSeconds).toBe(r.values === 'default' ? 40 : 60);
    }
  });

  it('the chart never sets worker replicas (the operator owns them), nor api replicas under the HPA', () => {
    for (const [values, objects] of Object.entries(renders)) {
      const worker = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-worker'))!;
      const api = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-api'))!;
      expect(worker.spec, values).not.toHaveProperty('replicas');
      expect(api.spec, values).not.toHaveProperty('replicas');
    }
  });

  it('the worker Deployment, and only it, opts in to scaling by the operator (it refuses any other)', () => {
    for (const [values, objects] of Object.entries(renders)) {
      const optedIn = objects.filter((o) => o.metadata.annotations?.['fluxgate.io/replicas-owner'] === 'operator').map((o) => `${o.kind}/${o.metadata.name}`);
      expect(optedIn, values).toEqual(['Deployment/fg-flux-gate-worker']);
    }
  });

  it('passwords only come from Secrets', () => {
    for (const r of rows()) {
      for (const e of r.c.env ?? []) {
        if (/PASSWORD/.test(e.name)) expect(e.valueFrom?.secretKeyRef, `${r.values} ${r.object} ${e.name}`).toBeDefined();
        if (e.name === 'DATABASE_URL' || e.name === 'REDIS_URL') expect(e.value, `${r.object} ${e.name}`).not.toMatch(/:[^/@]*@/);
      }
    }
  });

  it('HA scheduling: every component takes podLabels, podAnnotations, priorityClassName and topology spread (all-on)', async () => {
    const objects = await template({ valuesFiles: [ALL_ON] });
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'Job')) {
      const tpl = o.spec.template;
      expect(tpl.metadata.labels['example.com/cost-center'], o.metadata.name).toBe('shop');
      expect(tpl.metadata.labels['app.kubernetes.io/component'], o.metadata.name).toBeDefined();
      expect(tpl.metadata.annotations?.['example.com/team'], o.metadata.name).toBe('sre');
      expect(tpl.spec.priorityClassName, o.metadata.name).toBe('flux-gate-critical');
      if (o.kind === 'Job') continue;
      const [spread] = tpl.spec.topologySpreadConstraints;
      // Spread over this component's own pods (the chart fills the selector in).
      expect(spread.labelSelector.matchLabels, o.metadata.name).toEqual(o.spec.selector.matchLabels);
      expect(spread.topologyKey).toBe('topology.kubernetes.io/zone');
    }
    const pdbs = objects.filter((x) => x.kind === 'PodDisruptionBudget');
    expect(pdbs).toHaveLength(3);
    for (const p of pdbs) expect(p.spec.unhealthyPodEvictionPolicy, p.metadata.name).toMatch(/^(AlwaysAllow|IfHealthyBudget)$/);
    expect(pdbs.find((p) => p.metadata.name.endsWith('-api'))!.spec.unhealthyPodEvictionPolicy).toBe('IfHealthyBudget');
  });

  // On a loaded node (load 35 on 2 cores seen) a pod gets about its CPU request: at 50m a restarted
  // operator never passed a 60 s startup probe and crash-looped. Start-up gets minutes, as
  // CloudNativePG's and Strimzi's operators give theirs, and a CPU share it can start with.
  it('the operator has minutes to start on a loaded node and requests the CPU to do it (defaults)', async () => {
    const operator = rows().find((r) => r.values === 'default' && r.container === 'operator')!.c;
    const { periodSeconds, failureThreshold, timeoutSeconds } = operator.startupProbe;
    expect(periodSeconds * failureThreshold, 'startup budget, seconds').toBeGreaterThanOrEqual(300);
    expect(timeoutSeconds, 'a /healthz answer may take seconds under load').toBeGreaterThanOrEqual(5);
    expect(operator.resources.requests.cpu).toBe('200m');
    const tuned = await template({ set: ['operator.startupProbe.failureThreshold=120'] });
    const c = podSpecOf(tuned.find((o) => o.kind === 'Deployment' && o.metadata.name === 'fg-flux-gate-operator')!).containers[0];
    expect(c.startupProbe.failureThreshold).toBe(120);
  });
});
