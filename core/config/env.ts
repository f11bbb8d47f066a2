// Typed, validated configuration from environment variables.
// Every variable is declared once in `variables.ts` with its type, default and description;
// the README configuration table is checked against that list by a test.

export type VarType = 'string' | 'int' | 'number' | 'bool' | 'url' | 'brokers' | 'enum';

export interface VarSpec {
  type: VarType;
  description: string;
  /** Default as the user would write it in the environment; absent = required (unless optional). */
  default?: string;
  optional?: boolean;
  min?: number;
  max?: number;
  /** For 'url': accepted protocols, e.g. ['redis:', 'rediss:']. */
  protocols?: string[];
  /** For 'enum'. */
  values?: string[];
  /** Processes that read it, for the README table. */
  usedBy: Array<'api' | 'worker' | 'operator' | 'migrate'>;
  /** Never echo the value in errors or logs. */
  secret?: boolean;
  /**
   * Alternatives: of the variables naming the same group, exactly one must be set (each is then
   * declared optional). The first one in the table is named as "required" when none is set.
   */
  exactlyOneOf?: string;
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Parsed<S extends VarSpec> = S['type'] extends 'int' | 'number'
  ? number
  : S['type'] extends 'bool'
    ? boolean
    : S['type'] extends 'brokers'
      ? string[]
      : string;

export type ConfigOf<T extends Record<string, VarSpec>> = {
  [K in keyof T]: T[K]['optional'] extends true ? Parsed<T[K]> | undefined : Parsed<T[K]>;
};

function parseOne(name: string, spec: VarSpec, raw: string): { value?: unknown; problem?: string } {
  const shown = spec.secret ? '(hidden)' : JSON.stringify(raw);
  switch (spec.type) {
    case 'string':
      if (raw.length === 0) return { problem: `${name} must not be empty` };
      if (spec.min !== undefined && raw.length < spec.min)
        return { problem: `${name} must be at least ${spec.min} characters long` };
      return { value: raw };
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n)))
        return { problem: `${name} must be ${spec.type === 'int' ? 'an integer' : 'a number'}, got ${shown}` };
      if (spec.min !== undefined && n < spec.min) return { problem: `${name} must be >= ${spec.min}, got ${n}` };
      if (spec.max !== undefined && n > spec.max) return { problem: `${name} must be <= ${spec.max}, got ${n}` };
      return { value: n };
    }
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return { value: true };
      if (/^(0|false|no|off)$/i.test(raw)) return { value: false };
      return { problem: `${name} must be true or false, got ${shown}` };
    case 'enum':
      if (!spec.values?.includes(raw))
        return { problem: `${name} must be one of ${spec.values?.join(', ')}, got ${shown}` };
      return { value: raw };
    case 'url': {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return { problem: `${name} must be a URL, got ${shown}` };
      }
      if (spec.protocols && !spec.protocols.includes(url.protocol))
        return { problem: `${name} must use ${spec.protocols.join(' or ')}, got ${url.protocol}` };
      return { value: raw };
    }
    case 'brokers': {
      const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
      if (list.length === 0) return { problem: `${name} must list at least one host:port` };
      for (const b of list) {
        const m = /^([A-Za-z0-9.\-_]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(b);
        if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
          return { problem: `${name} entries must be host:port, got ${JSON.stringify(b)}` };
      }
      return { value: list };
    }
  }
}

/** Reads every variable of `specs` from `env`; collects all problems and throws one ConfigError naming each. */
export function loadConfig<T extends Record<string, VarSpec>>(
  specs: T,
  env: NodeJS.ProcessEnv = process.env,
): ConfigOf<T> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  const groupsChecked = new Set<string>();
  for (const [name, spec] of Object.entries(specs)) {
    const raw = env[name];
    const given = raw !== undefined && raw !== '';
    if (spec.exactlyOneOf !== undefined && !groupsChecked.has(spec.exactlyOneOf)) {
      groupsChecked.add(spec.exactlyOneOf);
      const problem = checkAlternatives(specs, spec.exactlyOneOf, env);
      if (problem) problems.push(problem);
    }
    if (!given && spec.default === undefined) {
      if (!spec.optional) problems.push(`${name} is required (${spec.description})`);
      continue;
    }
    const r = parseOne(name, spec, given ? raw : (spec.default as string));
    if (r.problem) problems.push(r.problem);
    else out[name] = r.value;
  }
  if (problems.length) throw new ConfigError(problems);
  return out as ConfigOf<T>;
}

function checkAlternatives(specs: Record<string, VarSpec>, group: string, env: NodeJS.ProcessEnv): string | undefined {
  const names = Object.entries(specs).filter(([, s]) => s.exactlyOneOf === group).map(([n]) => n);
  const given = names.filter((n) => env[n] !== undefined && env[n] !== '');
  if (given.length === 1) return undefined;
  const [first, ...others] = names as [string, ...string[]];
  if (given.length === 0)
    return `${first} is required (${specs[first]!.description}), or else ${others.join(' or ')}: set exactly one of ${names.join(', ')}`;
  return `set exactly one of ${names.join(', ')}, got ${given.join(' and ')}`;
}

/** Picks a subset of the variable specs by name, keeping their types. */
export function pick<T extends Record<string, VarSpec>, K extends keyof T>(specs: T, ...names: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const n of names) out[n] = specs[n];
  return out;
}
