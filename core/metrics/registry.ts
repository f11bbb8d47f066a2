// One prom-client registry per process, with Node's default metrics and the component label.
import { Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(component: 'api' | 'worker' | 'operator'): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry, prefix: 'fluxgate_' });
  return registry;
}
