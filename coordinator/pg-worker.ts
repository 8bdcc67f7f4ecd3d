// The PostgreSQL connection of a coordinator, in a worker thread: coordinator/pg-sync.ts blocks on
// each request (as better-sqlite3 blocks on SQLite) and this thread runs it over `pg`'s client.
// One connection, one request at a time: the caller's transactions are the connection's.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import pg from 'pg';

export interface PgRequest {
  sql: string;
  params: unknown[];
}
export type PgReply = { rows: Record<string, unknown>[]; rowCount: number } | { error: { message: string; code?: string; lost: boolean } };

const { url, flag, port } = workerData as { url: string; flag: Int32Array; port: MessagePort };
// bigint columns (every *_ms, counts) as numbers: all of zdd's are far below 2^53
pg.types.setTypeParser(20, (v) => Number(v));

let client: pg.Client | undefined;
let connecting: Promise<pg.Client> | undefined;

function connect(): Promise<pg.Client> {
  connecting ??= (async () => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, keepAlive: true, application_name: 'zdd-coordinator' });
    // a lost connection ends here: the next request connects again
    c.on('error', () => {
      if (client === c) client = undefined;
    });
    c.on('end', () => {
      if (client === c) client = undefined;
    });
    try {
      await c.connect();
    } catch (err) {
      void c.end().catch(() => undefined);
      throw err;
    }
    client = c;
    return c;
  })().finally(() => (connecting = undefined));
  return connecting;
}

async function run(req: PgRequest): Promise<PgReply> {
  let c: pg.Client | undefined;
  try {
    c = client ?? (await connect());
    const r = await c.query(req.sql, req.params);
    return { rows: r.rows, rowCount: r.rowCount ?? 0 };
  } catch (err) {
    const e = err as Error & { code?: string };
    // a query error (an SQLSTATE) leaves the session usable, unless it is a connection's or a
    // shutdown's; anything else (ECONNREFUSED, a reset, a timeout) has no session left
    const lost = !/^[0-9A-Z]{5}$/.test(e.code ?? '') || /^(08|57P)/.test(e.code!);
    if (lost && c) {
      if (client === c) client = undefined;
      void c.end().catch(() => undefined);
    }
    return { error: { message: e.message, code: e.code, lost } };
  }
}

port.on('message', (req: PgRequest) => {
  void run(req).then((reply) => {
    port.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
});
parentPort?.postMessage('ready');
