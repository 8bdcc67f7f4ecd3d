// The record a topology run (e2e/netns.ts) keeps of what it created, and the check every record
// read back must pass before the sweep acts on it: a record names what root will kill, delete and
// remove, so only names of the exact shapes create() makes are accepted.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** A run's id: four lower-case letters or digits. */
export const RUN_ID = /^[a-z0-9]{4}$/;
/** A namespace prefix or host name. */
export const NAME = /^[a-z][a-z0-9-]{0,30}$/;
const NAME_SRC = NAME.source.slice(1, -1);
/** What mkdtemp leaves of a run directory's name: `zdd-…-` and six letters or digits. */
const RUN_DIR = /^zdd-[a-z0-9-]{1,40}-[A-Za-z0-9]{6}$/;

export interface RunRecord {
  id: string;
  owner: number;
  ownerTicks: number | undefined;
  /** '' until the run has chosen one */
  subnet: string;
  bridge: string;
  namespaces: string[];
  veths: string[];
  /** an `iptables -I FORWARD -i BRIDGE -o BRIDGE -j ACCEPT` was (or is about to be) added */
  forwardRule?: boolean;
  /** a directory of the run's own, removed by the sweep when the run's process died */
  runDir?: string;
}

export const bridgeName = (id: string) => `zdd${id}`;
export const vethName = (id: string, i: number) => `z${id}${i}`;
export const nsName = (prefix: string, id: string, host: string) => `${prefix}-${id}-${host}`;
export const recordFile = (id: string) => `${id}.json`;

/** True for a directory mkdtemp made directly in the temporary directory with a `zdd-` prefix. */
export function isRunDir(p: string): boolean {
  return path.isAbsolute(p) && path.dirname(p) === os.tmpdir() && RUN_DIR.test(path.basename(p));
}

const schema = z
  .strictObject({
    id: z.string().regex(RUN_ID),
    owner: z.number().int().positive(),
    ownerTicks: z.number().int().nonnegative().optional(),
    subnet: z.union([z.literal(''), z.string().regex(/^10\.231\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4])\.0\/24$/)]),
    bridge: z.string(),
    namespaces: z.array(z.string()).max(200),
    veths: z.array(z.string()).max(200),
    forwardRule: z.boolean().optional(),
    runDir: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    const bad = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (r.bridge !== bridgeName(r.id)) bad(`bridge "${r.bridge}" is not ${bridgeName(r.id)}`);
    const ns = new RegExp(`^${NAME_SRC}-${r.id}-${NAME_SRC}$`);
    for (const n of r.namespaces) if (!ns.test(n)) bad(`namespace "${n}" is not PREFIX-${r.id}-HOST`);
    if (r.veths.length !== r.namespaces.length) bad('not one veth per namespace');
    r.veths.forEach((v, i) => {
      if (v !== vethName(r.id, i)) bad(`veth "${v}" is not ${vethName(r.id, i)}`);
    });
    if (r.runDir !== undefined && !isRunDir(r.runDir)) bad(`run directory "${r.runDir}" is not a zdd-… directory in ${os.tmpdir()}`);
  });

export class RecordInvalid extends Error {
  constructor(readonly file: string, message: string, opts: { cause?: unknown } = {}) {
    super(`${file}: ${message}`, opts);
    this.name = 'RecordInvalid';
  }
}

/** Parses the record read from `file` (a name like `abcd.json`), refusing any that create() could not have written. */
export function parseRecord(file: string, text: string): RunRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RecordInvalid(file, 'not JSON', { cause: err });
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new RecordInvalid(file, r.error.issues.map((i) => i.message).join('; '), { cause: r.error });
  if (file !== recordFile(r.data.id)) throw new RecordInvalid(file, `holds the record of run ${r.data.id}`);
  return { ...r.data, ownerTicks: r.data.ownerTicks };
}
