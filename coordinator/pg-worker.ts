// The PostgreSQL connection of a coordinator, in a worker thread: coordinator/pg-sync.ts blocks on
// each request (as better-sqlite3 blocks on SQLite) and this thread runs it over `pg`'s client.
// One connection, one request at a time: the caller's transactions are the connection's. A request
// made inside a transaction names the connection it began on, and runs nowhere else: a lost
// connection is never replaced under an open transaction.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import pg from 'pg';

export interface PgStatement {
  sql: string;
  params?: unknown[];
}
/**
 * Statements run one after another in one hop between the threads. When the first is BEGIN, the
 * batch is a transaction of its own or its start: a failure rolls it back before the answer.
 */
export interface PgRequest {
  id: number;
  statements: PgStatement[];
  /** inside a transaction: the connection (generation) it began on */
  onConnection?: number;
}
export interface PgResultRows {
  rows: Record<string, unknown>[];
  rowCount: number;
}
export type PgReply = { id: number; connection: number } & ({ results: PgResultRows[] } | { error: { message: string; code?: string; lost: boolean } });

const { url, flag, port, settings } = workerData as { url: string; flag: Int32Array; port: MessagePort; settings: Record<string, number> };
// bigint columns (every *_ms, counts) as numbers: all of zdd's are far below 2^53
pg.types.setTypeParser(20, (v) => Number(v));

let client: pg.Client | undefined;
/** which connection this is: flag[1] counts them, so the caller can tell one was lost (read without a request) */
let generation = 0;

function lost(c: pg.Client) {
  if (client !== c) return;
  client = undefined;
  Atomics.add(flag, 1, 1);
  void c.end().catch(() => undefined);
}

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, keepAlive: true, keepAliveInitialDelayMillis: 2000, application_name: 'zdd-coordinator', ...settings });
  c.on('error', () => lost(c));
  c.on('end', () => lost(c));
  try {
    await c.connect();
  } catch (err) {
    void c.end().catch(() => undefined);
    throw err;
  }
  client = c;
  generation = Atomics.add(flag, 1, 1) + 1;
  return c;
}

async function run(req: PgRequest): Promise<PgReply> {
  let c = client;
  try {
    if (req.onConnection !== undefined && (!c || req.onConnection !== generation)) {
      return { id: req.id, connection: generation, error: { message: 'the connection was lost inside a transaction; none of it was committed', lost: true } };
    }
    c ??= await connect();
    const results: PgResultRows[] = [];
    for (const st of req.statements) {
      const r = await c.query(st.sql, st.params ?? []);
      // a statement of several (the schema) answers with one result each: the last one counts
      const last = Array.isArray(r) ? r[r.length - 1] : r;
      results.push({ rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 });
    }
    return { id: req.id, connection: generation, results };
  } catch (err) {
    const e = err as Error & { code?: string };
    // a query error (an SQLSTATE) leaves the session usable, unless it is a connection's or a
    // shutdown's; anything else (ECONNREFUSED, a reset, a timeout) has no session left
    const gone = !/^[0-9A-Z]{5}$/.test(e.code ?? '') || /^(08|57P)/.test(e.code!);
    if (gone && c) lost(c);
    else if (c && req.statements[0]?.sql === 'BEGIN' && req.onConnection === undefined) await c.query('ROLLBACK').catch(() => undefined);
    return { id: req.id, connection: generation, error: { message: e.message, code: e.code, lost: gone } };
  }
}

port.on('message', (req: PgRequest) => {
  void run(req).then((reply) => {
    port.postMessage(reply);
    Atomics.store(flag, 0, req.id);
    Atomics.notify(flag, 0);
  });
});
parentPort?.postMessage('ready');
