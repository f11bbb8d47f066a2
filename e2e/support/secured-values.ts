// The README's "Install — secured" section as data: the values block (between the secured-values
// markers) and the Secrets its `kubectl create secret` lines create. e2e/helm renders and lints it;
// e2e/cluster installs it on the real node. One reader, so both test the same text.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

export interface SecuredInstallDoc {
  /** The section, from its heading to the end marker of the values block. */
  section: string;
  /** The YAML of the values block, exactly as the README shows it. */
  valuesText: string;
  /** Names of the Secrets the section tells you to create, sorted. */
  createdSecrets: string[];
}

export function securedInstallDoc(): SecuredInstallDoc {
  const readme = readFileSync(README, 'utf8');
  const section = readme.slice(readme.indexOf('### Install — secured'), readme.indexOf('<!-- secured-values:end'));
  const valuesText = /<!-- secured-values:start[^\n]*\n```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const createdSecrets = [...section.matchAll(/kubectl create secret (?:generic|tls) ([a-z0-9-]+)/g)].map((m) => m[1]!).sort();
  return { section, valuesText, createdSecrets };
}
