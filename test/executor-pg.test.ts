// The executor's tests (executor.test.ts) again, with the journal on PostgreSQL: a server of this
// file's own, a new database per test.
import test from 'ava';
import { TestPostgres } from '../testkit/postgres.js';
import './executor.test.js';

let pg: TestPostgres | undefined;
test.before(async () => {
  pg = await TestPostgres.start();
  process.env.ZDD_TEST_PG_URL = pg.url;
});
test.after.always(() => pg?.stop());
