// Results of recent command ids, on disk: a repeated id is answered from here, never run twice.
import fs from 'node:fs';
import { writeFileAtomic } from '../lib/fs-atomic.js';
import { agentStateLayout } from './state-layout.js';

export interface RecordedResult {
  kind: string;
  ok: boolean;
  errorCode: string;
  errorMessage: string;
  resultJson: string;
  at: number;
}

const KEEP = 500;

export class CommandLog {
  private readonly file: string;
  private readonly results = new Map<string, RecordedResult>();

  constructor(stateDir: string) {
    this.file = agentStateLayout(stateDir).commands;
    try {
      const saved = JSON.parse(fs.readFileSync(this.file, 'utf8')) as [string, RecordedResult][];
      for (const [id, r] of saved) this.results.set(id, r);
    } catch {
      /* none yet */
    }
  }

  get(id: string): RecordedResult | undefined {
    return this.results.get(id);
  }

  record(id: string, r: RecordedResult): void {
    this.results.set(id, r);
    while (this.results.size > KEEP) this.results.delete(this.results.keys().next().value!);
    writeFileAtomic(this.file, JSON.stringify([...this.results]));
  }
}
