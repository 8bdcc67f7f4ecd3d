// PostgreSQL behind the store's synchronous interface: each statement is handed to a worker thread
// (coordinator/pg-worker.ts, over `pg`) and this thread waits for its answer, as better-sqlite3
// waits for SQLite. A wait is bounded: a database that does not answer in time is an error, its
// connection is dropped (PostgreSQL rolls back what it held open) and the next statement connects
// again. A transaction whose connection was lost fails as a whole; nothing of it runs elsewhere.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ZddError } from '../lib/errors.js';
import type { PgReply } from './pg-worker.js';

export interface PgResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

/** The connection string without its password, for messages and logs. */
export const redactUrl = (url: string) => url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');

export class SyncPg {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private flag: Int32Array | undefined;
  /** open transactions (BEGIN, then savepoints) on the connection */
  private depth = 0;
  /** the connection was lost inside the open transaction: it fails as a whole */
  private broken = false;

  constructor(
    readonly url: string,
    private readonly timeoutMs = 10_000,
  ) {}

  private start() {
    const { port1, port2 } = new MessageChannel();
    this.flag = new Int32Array(new SharedArrayBuffer(4));
    this.worker = new Worker(new URL('./pg-worker.js', import.meta.url), { workerData: { url: this.url, flag: this.flag, port: port2 }, transferList: [port2] });
    this.worker.unref();
    this.worker.on('error', () => this.drop());
    this.port = port1;
  }

  private drop() {
    void this.worker?.terminate();
    this.port?.close();
    this.worker = this.port = this.flag = undefined;
    if (this.depth) this.broken = true;
  }

  query(sql: string, params: unknown[] = []): PgResult {
    if (this.broken) throw this.unreachable('the connection was lost inside this transaction; none of it was committed');
    if (!this.worker) this.start();
    const flag = this.flag!;
    Atomics.store(flag, 0, 0);
    this.port!.postMessage({ sql, params });
    if (Atomics.wait(flag, 0, 0, this.timeoutMs) === 'timed-out') {
      this.drop();
      throw this.unreachable(`no answer in ${this.timeoutMs / 1000}s`);
    }
    const reply = receiveMessageOnPort(this.port!)?.message as PgReply | undefined;
    if (!reply) {
      this.drop();
      throw this.unreachable('its connection ended without an answer');
    }
    if ('error' in reply) {
      if (reply.error.lost) {
        if (this.depth) this.broken = true;
        throw this.unreachable(reply.error.message);
      }
      throw new ZddError('DB_ERROR', `PostgreSQL refused a statement: ${reply.error.message}`, { hint: 'a zdd bug or a changed schema: report it with the coordinator log' });
    }
    return reply;
  }

  private unreachable(why: string) {
    return new ZddError('DB_ERROR', `PostgreSQL at ${redactUrl(this.url)} is unreachable (${why})`, {
      hint: 'the rollout resumes by itself once PostgreSQL answers again',
    });
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /** fn in a transaction (a savepoint inside another); `begin` runs first inside it (the leader's fence). */
  tx<T>(fn: () => T, begin?: () => void): T {
    const outer = this.depth === 0;
    const sp = `s${this.depth}`;
    this.query(outer ? 'BEGIN' : `SAVEPOINT ${sp}`);
    this.depth++;
    try {
      if (outer) begin?.();
      const out = fn();
      if (this.broken) throw this.unreachable('the connection was lost inside this transaction; none of it was committed');
      this.query(outer ? 'COMMIT' : `RELEASE SAVEPOINT ${sp}`);
      return out;
    } catch (err) {
      if (!this.broken) {
        try {
          this.query(outer ? 'ROLLBACK' : `ROLLBACK TO SAVEPOINT ${sp}`);
        } catch {
          /* the connection is gone: PostgreSQL rolled it back */
        }
      }
      throw err;
    } finally {
      this.depth--;
      if (outer) this.broken = false;
    }
  }

  close() {
    this.drop();
  }
}
