// Values that must be refused at install time, each with a message naming the value to fix.
import { describe, expect, it } from 'vitest';
import { run, templateArgs, tools } from './chart.js';

const cases: Array<{ why: string; set: string[]; message: RegExp }> = [
  { why: 'zero operator replicas', set: ['operator.replicaCount=0'], message: /at '\/operator\/replicaCount': minimum: got 0, want 1/ },
  { why: 'negative api replicas', set: ['api.replicaCount=-1', 'api.autoscaling.enabled=false'], message: /at '\/api\/replicaCount': minimum: got -1, want 1/ },
  { why: 'a replica count that is not a number', set: ['operator.replicaCount=two'], message: /at '\/operator\/replicaCount': got string, want integer/ },
  { why: 'HPA min above max', set: ['api.autoscaling.minReplicas=5', 'api.autoscaling.maxReplicas=3'], message: /api\.autoscaling\.minReplicas \(5\) must not exceed api\.autoscaling\.maxReplicas \(3\)/ },
  { why: 'PDB that blocks every drain', set: ['api.autoscaling.enabled=false', 'api.replicaCount=2', 'api.pdb.minAvailable=2'], message: /api\.pdb\.minAvailable \(2\) must be below api\.replicaCount \(2\)/ },
  { why: 'missing Redis host (single)', set: ['redis.host='], message: /redis\.host is required when redis\.mode is "single"/ },
  { why: 'Sentinel without endpoints', set: ['redis.mode=sentinel'], message: /redis\.sentinel\.endpoints needs at least one host:port/ },
  { why: 'Cluster without nodes', set: ['redis.mode=cluster'], message: /redis\.cluster\.nodes needs at least one host:port/ },
  { why: 'unknown Redis mode', set: ['redis.mode=replica'], message: /at '\/redis\/mode': value must be one of 'single', 'sentinel', 'cluster'/ },
  { why: 'Sentinel endpoint without a port', set: ['redis.mode=sentinel', 'redis.sentinel.endpoints={sentinel-0}'], message: /redis\/sentinel\/endpoints\/0/ },
  { why: 'no Kafka broker', set: ['kafka.brokers=null'], message: /kafka\.brokers needs at least one host:port/ },
  { why: 'missing PostgreSQL host', set: ['postgres.host='], message: /postgres\.host is required/ },
  { why: 'no PostgreSQL password Secret', set: ['postgres.existingSecret='], message: /postgres\.existingSecret is required/ },
  { why: 'PostgreSQL password in clear', set: ['postgres.password=hunter2'], message: /at '\/postgres': additional properties 'password' not allowed/ },
  { why: 'Redis password in clear', set: ['redis.password=hunter2'], message: /at '\/redis': additional properties 'password' not allowed/ },
  { why: 'Redis TLS as the old boolean', set: ['redis.tls=true'], message: /at '\/redis\/tls': got boolean, want object/ },
  { why: 'the old redis.existingSecret', set: ['redis.existingSecret=redis-auth'], message: /at '\/redis': additional properties 'existingSecret' not allowed/ },
  { why: 'a Redis CA Secret with TLS off', set: ['redis.tls.caSecret.name=redis-ca'], message: /redis\.tls\.caSecret, redis\.tls\.clientCertSecret and redis\.tls\.serverName need redis\.tls\.enabled=true/ },
  { why: 'a Redis ACL user without its password Secret', set: ['redis.auth.username=fluxgate-api'], message: /redis\.auth\.username needs redis\.auth\.existingSecret\.name/ },
  { why: 'Sentinel auth outside Sentinel mode', set: ['redis.sentinel.auth.existingSecret.name=s'], message: /redis\.sentinel\.auth is only used when redis\.mode is "sentinel"/ },
  { why: 'a Redis password in clear under auth', set: ['redis.auth.password=hunter2'], message: /at '\/redis\/auth': additional properties 'password' not allowed/ },
  { why: 'a password through extraEnv', set: ['worker.extraEnv.PGPASSWORD=hunter2'], message: /worker\.extraEnv\.PGPASSWORD looks like a secret/ },
  { why: 'a connection URL through extraEnv', set: ['api.extraEnv.DATABASE_URL=postgres://u:hunter2@db/x'], message: /api\.extraEnv\.DATABASE_URL looks like a secret or a connection URL/ },
  { why: 'a typo in a value name', set: ['api.replicas=3'], message: /at '\/api': additional properties 'replicas' not allowed/ },
  { why: 'grace period shorter than preStop', set: ['api.preStopSleepSeconds=30', 'api.terminationGracePeriodSeconds=20'], message: /api\.terminationGracePeriodSeconds \(20\) must exceed api\.preStopSleepSeconds \(30\)/ },
  { why: 'a watched namespace that is not a DNS label', set: ['operator.watchNamespaces={Shop_EU}'], message: /at '\/operator\/watchNamespaces\/0': 'Shop_EU' does not match pattern/ },
  { why: 'an unknown unhealthy-pod eviction policy', set: ['api.pdb.unhealthyPodEvictionPolicy=Never'], message: /at '\/api\/pdb\/unhealthyPodEvictionPolicy': value must be one of 'AlwaysAllow', 'IfHealthyBudget'/ },
  { why: 'a topology spread constraint without topologyKey', set: ['worker.topologySpreadConstraints[0].maxSkew=1', 'worker.topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule'], message: /at '\/worker\/topologySpreadConstraints\/0': missing property 'topologyKey'/ },
  { why: 'a Kafka SASL mechanism without the users', set: ['kafka.sasl.mechanism=scram-sha-256'], message: /kafka\.sasl\.api\.username and kafka\.sasl\.api\.existingSecret\.name are required when kafka\.sasl\.mechanism is set/ },
  { why: 'a Kafka SASL user without its password Secret', set: ['kafka.sasl.mechanism=plain', ...['api', 'worker', 'operator'].flatMap((c) => [`kafka.sasl.${c}.username=fg-${c}`, `kafka.sasl.${c}.existingSecret.name=kafka-${c}`]), 'kafka.sasl.worker.existingSecret.name='], message: /kafka\.sasl\.worker\.username and kafka\.sasl\.worker\.existingSecret\.name are required/ },
  { why: 'an unknown Kafka SASL mechanism', set: ['kafka.sasl.mechanism=gssapi'], message: /at '\/kafka\/sasl\/mechanism': value must be one of '', 'plain', 'scram-sha-256', 'scram-sha-512'/ },
  { why: 'a Kafka SASL password in clear', set: ['kafka.sasl.api.password=hunter2'], message: /at '\/kafka\/sasl\/api': additional properties 'password' not allowed/ },
  { why: 'a Kafka CA Secret without TLS', set: ['kafka.tls.caSecret.name=kafka-ca'], message: /kafka\.tls\.caSecret\.name \/ kafka\.tls\.clientCertSecret are set but kafka\.tls\.enabled is false/ },
  { why: 'the API metrics port equal to its public port', set: ['api.metricsPort=3000'], message: /api\.metricsPort \(3000\) must differ from api\.port/ },
];

describe('values the chart refuses', () => {
  it.each(cases)('refuses $why', async ({ set, message }) => {
    const r = await run(tools().helm, templateArgs({ set }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    // The refusal never echoes a clear-text secret back into logs.
    expect(r.stderr).not.toContain('hunter2');
  });
});
