// An operator's credentials for zddctl, like a kubeconfig: the coordinator's address, the fleet CA
// it pins, and the operator's certificate and key, in one JSON file readable only by its owner.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ZddError } from './errors.js';
import { writeFileAtomic } from './fs-atomic.js';

export const ClientConfigSchema = z
  .object({
    coordinator: z.string().min(1).max(300),
    caPem: z.string().includes('BEGIN CERTIFICATE'),
    certPem: z.string().includes('BEGIN CERTIFICATE'),
    keyPem: z.string().includes('PRIVATE KEY'),
    principal: z.string().max(200),
    role: z.string().max(20),
  })
  .strict();
export type ClientConfig = z.infer<typeof ClientConfigSchema>;

/** Where zddctl looks when neither --config nor ZDD_CONFIG names a file. */
export function defaultConfigPaths(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME || os.homedir();
  const xdg = env.XDG_CONFIG_HOME || path.join(home, '.config');
  // the coordinator host's own admin, for root there (as k3s does with its kubeconfig)
  return [path.join(xdg, 'zdd', 'config.json'), '/var/lib/zdd-coordinator/pki/admin.json'];
}

export function readClientConfig(file: string): ClientConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ZddError('INVALID_ARGUMENT', `cannot read the zddctl config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: 'zddctl login writes one; an admin gives you its token with zddctl operator create',
    });
  }
  const r = ClientConfigSchema.safeParse(raw);
  if (!r.success) throw new ZddError('INVALID_ARGUMENT', `${file} is not a zddctl config: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** Written whole (temp file + rename), 0600. */
export function writeClientConfig(file: string, c: ClientConfig): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(c, null, 2) + '\n', 0o600);
}
