// PostgreSQL behind the store's synchronous interface: each statement is handed to a worker thread
// (coordinator/pg-worker.ts, over `pg`) and this thread waits for its answer, as better-sqlite3
// waits for SQLite. A wait is bounded: a database that does not answer in time is an error, its
// connection is dropped (PostgreSQL rolls back what it held open) and the next statement connects
// again. A transaction whose connection was lost fails as a whole; nothing of it runs elsewhere.
// A lost connection is also reported (onLost): a leader whose connection is gone stops acting, as
// a COMMIT whose outcome is unknown leaves it nothing it can trust but the journal.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ZddError } from '../lib/errors.js';
import type { PgReply, PgRequest, PgResultRows, PgStatement } from './pg-worker.js';

export type PgResult = PgResultRows;
export type { PgStatement };

/** The connection string without its password, for messages and logs. */
export const redactUrl = (url: string) => url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');

export interface SyncPgOptions {
  /** how long a statement may take before its connection is dropped (10 s) */
  timeoutMs?: number;
  /** server settings of the session (idle_in_transaction_session_timeout, lock_timeout, statement_timeout, in ms) */
  settings?: Record<string, number>;
  /** the connection was lost (or a statement timed out): what it held open is gone */
  onLost?: (why: string) => void;
}

export class SyncPg {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  /** [0]: the id of the last request answered; [1]: connections made or lost (the worker counts them) */
  private flag: Int32Array | undefined;
  private lastId = 0;
  /** open transactions (BEGIN, then savepoints) on the connection */
  private depth = 0;
  /** the connection the open transaction began on */
  private txConnection: number | undefined;
  /** the connection was lost inside the open transaction: it fails as a whole */
  private broken = false;
  /**
   * Statements whose answer nothing waits for (BEGIN and the fence, SAVEPOINT, RELEASE): sent
   * ahead of the next statement, in its hop. A transaction of n statements costs n + 1 hops.
   */
  private deferred: PgStatement[] = [];
  private closed = false;
  private readonly timeoutMs: number;

  constructor(
    readonly url: string,
    private readonly opts: SyncPgOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  private start() {
    const { port1, port2 } = new MessageChannel();
    this.flag = new Int32Array(new SharedArrayBuffer(8));
    this.worker = new Worker(new URL('./pg-worker.js', import.meta.url), { workerData: { url: this.url, flag: this.flag, port: port2, settings: this.opts.settings ?? {} }, transferList: [port2] });
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

  /** Counts the connections made and lost so far: a change means the session it was read in is gone. */
  connectionCount(): number {
    return this.flag ? Atomics.load(this.flag, 1) : -1;
  }

  private lose(why: string) {
    if (this.depth) this.broken = true;
    this.opts.onLost?.(why);
  }

  query(sql: string, params: unknown[] = []): PgResult {
    return this.run([{ sql, params }])[0];
  }

  /** Statements in one hop to the worker, one after another: the results of each. */
  run(mine: PgStatement[]): PgResult[] {
    if (this.closed) throw new ZddError('DB_ERROR', 'this PostgreSQL connection was closed');
    if (this.broken) throw this.unreachable('the connection was lost inside this transaction; none of it was committed');
    if (!this.worker) this.start();
    const flag = this.flag!;
    const ahead = this.deferred.length;
    const statements = ahead ? [...this.deferred, ...mine] : mine;
    this.deferred = [];
    const id = (this.lastId = (this.lastId % 0x7fffffff) + 1);
    // once the transaction's BEGIN has run, the rest of it runs on that connection or nowhere
    const req: PgRequest = { id, statements, ...(this.txConnection !== undefined ? { onConnection: this.txConnection } : {}) };
    this.port!.postMessage(req);
    const deadline = Date.now() + this.timeoutMs;
    let reply: PgReply | undefined;
    while (!reply) {
      const got = receiveMessageOnPort(this.port!)?.message as PgReply | undefined;
      if (got) {
        if (got.id === id) reply = got;
        continue; // an answer to an earlier request given up on: dropped
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.drop();
        this.lose(`no answer in ${this.timeoutMs / 1000}s`);
        throw this.unreachable(`no answer in ${this.timeoutMs / 1000}s`);
      }
      const seen = Atomics.load(flag, 0);
      // answered but not yet readable: look again in a moment; else sleep until the worker answers
      Atomics.wait(flag, 0, seen, seen === id ? 1 : left);
    }
    if ('error' in reply) {
      if (reply.error.lost) {
        this.lose(reply.error.message);
        throw this.unreachable(reply.error.message);
      }
      throw new ZddError('DB_ERROR', `PostgreSQL refused a statement: ${reply.error.message}`, { hint: 'a zdd bug or a changed schema: report it with the coordinator log' });
    }
    if (statements[0]?.sql === 'BEGIN') this.txConnection = reply.connection;
    return ahead ? reply.results.slice(ahead) : reply.results;
  }

  /** One statement as a transaction of its own, after `begin` (the fence): one hop to the worker. */
  atomically(st: PgStatement, begin: PgStatement[] = []): PgResult {
    if (this.depth) return this.run([st])[0];
    try {
      const results = this.run([{ sql: 'BEGIN' }, ...begin, st, { sql: 'COMMIT' }]);
      return results[results.length - 2];
    } finally {
      this.txConnection = undefined;
    }
  }

  private unreachable(why: string) {
    return new ZddError('DB_ERROR', `PostgreSQL at ${redactUrl(this.url)} is unreachable (${why})`, {
      hint: 'the rollout resumes by itself once PostgreSQL answers again',
    });
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /**
   * fn in a transaction (a savepoint inside another); `begin` runs first inside it (the leader's
   * fence). BEGIN, the fence and the savepoints go with the next statement; COMMIT waits for its answer.
   */
  tx<T>(fn: () => T, begin: PgStatement[] = []): T {
    const outer = this.depth === 0;
    const sp = `s${this.depth}`;
    this.deferred.push(...(outer ? [{ sql: 'BEGIN' }, ...begin] : [{ sql: `SAVEPOINT ${sp}` }]));
    this.depth++;
    try {
      const out = fn();
      if (this.broken) throw this.unreachable('the connection was lost inside this transaction; none of it was committed');
      if (outer) this.run([{ sql: 'COMMIT' }]);
      else this.deferred.push({ sql: `RELEASE SAVEPOINT ${sp}` });
      return out;
    } catch (err) {
      if (outer) {
        // BEGIN not sent yet: nothing to roll back
        const begun = this.txConnection !== undefined;
        this.deferred = [];
        if (begun && !this.broken) {
          try {
            this.run([{ sql: 'ROLLBACK' }]);
          } catch {
            /* the connection is gone: PostgreSQL rolled it back */
          }
        }
      } else if (!this.broken) this.deferred.push({ sql: `ROLLBACK TO SAVEPOINT ${sp}` });
      throw err;
    } finally {
      this.depth--;
      if (outer) {
        this.broken = false;
        this.txConnection = undefined;
        this.deferred = [];
      }
    }
  }

  /** Final: a closed connection is not opened again. */
  close() {
    this.closed = true;
    this.drop();
  }
}
