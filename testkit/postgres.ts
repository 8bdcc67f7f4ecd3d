// A PostgreSQL server of a test's own: initdb in a temp directory, its own port on loopback, run as
// an unprivileged user (postgres, or nobody, when the test runs as root), stopped and removed after.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { claimBlock } from './local-fleet.js';
import { SyncPg } from '../coordinator/pg-sync.js';

/** Debian puts the server's programs under /usr/lib/postgresql/VERSION/bin, outside PATH. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin/initdb'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length) return path.join(root, versions[0], 'bin');
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  return which ? path.dirname(fs.realpathSync(which)) : undefined;
}

const running = new Set<TestPostgres>();
// stopped with the test process, also when it fails
process.on('exit', () => {
  for (const pg of running) pg.stop();
});

export class TestPostgres {
  private stopped = false;
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly user: string | undefined,
    private readonly claim: string,
  ) {}

  /** postgres://zdd@127.0.0.1:PORT/zdd (trust on loopback: the server lives as long as the test) */
  get url(): string {
    return `postgres://zdd@127.0.0.1:${this.port}/zdd`;
  }

  static async start(): Promise<TestPostgres> {
    const bin = postgresBin();
    if (!bin) throw new Error('PostgreSQL is not installed: apt-get install postgresql (npm test installs it on Debian as root)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-pg-'));
    const { base, file } = await claimBlock(1);
    // the server refuses to run as root
    const user = process.getuid?.() === 0 ? (spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody') : undefined;
    if (user) execFileSync('chown', [user, dir]);
    const pg = new TestPostgres(dir, base, bin, user, file);
    running.add(pg);
    try {
      pg.as('initdb', ['-D', path.join(dir, 'data'), '-U', 'zdd', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
      const conf = [
        `port = ${base}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dir}'`,
        'fsync = on',
        'max_connections = 50',
        'shared_buffers = 16MB',
        "log_min_messages = 'warning'",
      ];
      fs.appendFileSync(path.join(dir, 'data/postgresql.conf'), conf.join('\n') + '\n');
      pg.ctl('start');
      pg.as('createdb', ['-h', '127.0.0.1', '-p', String(base), '-U', 'zdd', 'zdd']);
      return pg;
    } catch (err) {
      pg.stop();
      throw err;
    }
  }

  private as(prog: string, args: string[]) {
    const cmd = path.join(this.bin, prog);
    const argv = this.user ? ['runuser', '-u', this.user, '--', cmd, ...args] : [cmd, ...args];
    const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', cwd: this.dir, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${prog} failed: ${r.stderr || r.stdout || r.error?.message}`);
  }

  private ctl(action: 'start' | 'stop' | 'restart', mode = 'fast') {
    const data = path.join(this.dir, 'data');
    this.as('pg_ctl', [action, '-D', data, '-w', '-t', '60', ...(action === 'start' ? ['-l', path.join(this.dir, 'server.log')] : ['-m', mode])]);
  }

  /** Stops the server (fast: sessions are cut); start() brings it back on the same port and data. */
  halt() {
    this.ctl('stop');
  }

  start() {
    this.ctl('start');
  }

  /**
   * Counts every write to the journal's tables made without the current leader's epoch (its
   * transaction's zdd.epoch, set by the fence): a stale or unfenced write, which must never land.
   * Installed once the schema exists; staleWrites() reads the count.
   */
  installStaleWriteProbe(url = this.url) {
    const pg = new SyncPg(url);
    try {
      pg.query(`CREATE TABLE zdd_probe_stale (at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(), tbl TEXT NOT NULL, epoch_set TEXT, epoch_now BIGINT)`);
      pg.query(`CREATE FUNCTION zdd_probe() RETURNS trigger AS $$
        DECLARE now_epoch BIGINT; set_epoch TEXT := current_setting('zdd.epoch', true);
        BEGIN
          SELECT epoch INTO now_epoch FROM zdd_leader WHERE id = 1;
          IF set_epoch IS NULL OR set_epoch = '' OR set_epoch::bigint <> now_epoch THEN
            INSERT INTO zdd_probe_stale (tbl, epoch_set, epoch_now) VALUES (TG_TABLE_NAME, set_epoch, now_epoch);
          END IF;
          RETURN NULL;
        END $$ LANGUAGE plpgsql`);
      for (const t of ['rollouts', 'steps', 'events', 'traffic', 'traffic_diffs', 'services', 'service_specs', 'agents', 'parked', 'certificates', 'join_tokens', 'audit']) {
        pg.query(`CREATE TRIGGER zdd_probe_${t} AFTER INSERT OR UPDATE OR DELETE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION zdd_probe()`);
      }
    } finally {
      pg.close();
    }
  }

  staleWrites(url = this.url): number {
    const pg = new SyncPg(url);
    try {
      return Number(pg.query('SELECT count(*) AS n FROM zdd_probe_stale').rows[0].n);
    } finally {
      pg.close();
    }
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    running.delete(this);
    try {
      if (fs.existsSync(path.join(this.dir, 'data/postmaster.pid'))) this.ctl('stop', 'immediate');
    } catch {
      /* removed below either way */
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    fs.rmSync(this.claim, { force: true });
  }
}
