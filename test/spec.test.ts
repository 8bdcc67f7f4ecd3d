import test from 'ava';
import { compileSpec, parseSpecText, validateSpec } from '../lib/spec.js';
import { ZddError } from '../lib/errors.js';

const minimal = { name: 'web', command: 'node server.js', ports: { a: 8001, b: 8002 }, nginx: { listen: '80' } };

const message = (input: unknown) => {
  try {
    validateSpec(input);
    return 'valid';
  } catch (err) {
    return err instanceof ZddError && err.code === 'INVALID_SPEC' ? err.message : `unexpected: ${err}`;
  }
};

test('a minimal spec gets the documented defaults, compiled to milliseconds', (t) => {
  const c = compileSpec(validateSpec(minimal));
  t.is(c.health.path, '/healthz');
  t.is(c.health.intervalMs, 500);
  t.is(c.health.deadlineMs, 60_000);
  t.is(c.stop.signal, 'SIGTERM');
  t.is(c.stop.drainTimeoutMs, 30_000);
  t.is(c.stop.longLivedGraceMs, 30_000);
  t.is(c.stop.spreadMs, 0);
  t.is(c.nginx.clientCookie, 'zdd_key');
  t.is(c.nginx.upstreamKeepaliveTimeoutMs, 4000);
  t.deepEqual(c.argv, ['/bin/sh', '-c', 'exec node server.js']);
  t.true(Object.isFrozen(c) && Object.isFrozen(c.health));
});

test('validation errors name the field and the reason', (t) => {
  t.regex(message({ ...minimal, ports: { a: 8001, b: 8001 } }), /ports: slot a and slot b need different ports/);
  t.regex(message({ ...minimal, ports: { a: 0, b: 8002 } }), /ports\.a: /);
  t.regex(message({ ...minimal, health: { interval: 'soon' } }), /health\.interval: expected a duration/);
  t.regex(message({ ...minimal, name: 'Web App' }), /name: expected lower-case/);
  t.regex(message({ ...minimal, nginx: { listen: 'everywhere' } }), /nginx\.listen: expected "PORT" or "ADDRESS:PORT"/);
  t.regex(message({ ...minimal, nginx: { listen: '80', directives: ['location /x { }'] } }), /nginx\.directives\.0: a directive may not open or close a block/);
  t.regex(message({ ...minimal, helth: {} }), /helth|Unrecognized key/);
  t.regex(message({ ...minimal, stop: { signal: 'SIGSTOP' } }), /stop\.signal/);
  // a bare number is not a duration: 30 meant seconds to whoever wrote it
  t.regex(message({ ...minimal, health: { deadline: 30 } }), /health\.deadline: 30 what\? write 30s/);
  t.regex(message({ ...minimal, stop: { drainTimeout: '10' } }), /stop\.drainTimeout: 10 what\? write 10s/);
  t.regex(message({ ...minimal, stop: { drainTimeout: '10s', spread: '10s' } }), /stop\.spread: stop\.spread must be shorter than stop\.drainTimeout/);
  t.regex(message({ ...minimal, nginx: { listen: '80', clientCookie: 'my-key' } }), /nginx\.clientCookie: expected letters, digits and underscores/);
  const { command: _c, ...noCommand } = minimal;
  t.regex(message(noCommand), /command: /);
});

test('specs are read as YAML or JSON; broken text is a clear error', (t) => {
  t.is(parseSpecText(JSON.stringify(minimal)).name, 'web');
  t.is(parseSpecText('name: web\ncommand: x\nports: {a: 1, b: 2}\nnginx: {listen: 80}\n').nginx.listen, '80');
  t.is(parseSpecText('name: web\ncommand: [node, server.js]\nports: {a: 1, b: 2}\nnginx: {listen: "80"}\n').name, 'web');
  const err = t.throws(() => parseSpecText('name: [unclosed'), { instanceOf: ZddError });
  t.is(err?.code, 'INVALID_SPEC');
});

test('the example spec in examples/ is valid', async (t) => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { ROOT } = await import('../lib/paths.js');
  const spec = parseSpecText(fs.readFileSync(path.join(ROOT, 'examples/web.yaml'), 'utf8'));
  t.is(spec.name, 'web');
  t.deepEqual(spec.hosts.selector, { role: 'web' });
});

test('analysis and verification sections: documented defaults, bad values named, a preview port of its own', (t) => {
  const c = compileSpec(validateSpec(minimal));
  t.deepEqual(c.analysis, { maxErrorRate: 0.01, maxErrorRateDelta: 0.01, maxP95Ratio: 2, minRequests: 100, intervalMs: 1000, maxWaitMs: 1_800_000 });
  t.deepEqual(c.verify, { checks: [], timeoutMs: 30_000 });
  t.is(c.nginx.preview, undefined);
  const v = compileSpec(validateSpec({ ...minimal, nginx: { listen: '80', preview: 8081 }, verify: { checks: [{ path: '/ready' }], command: './smoke.sh' } }));
  t.is(v.nginx.preview, '8081');
  t.deepEqual(v.verify.checks, [{ path: '/ready', method: 'GET', expectStatus: 200 }]);
  t.deepEqual(v.verify.argv, ['/bin/sh', '-c', './smoke.sh']);
  t.regex(message({ ...minimal, nginx: { listen: '127.0.0.1:80', preview: '10.0.0.1:80' } }), /nginx\.preview: the preview listener needs a port of its own/);
  t.regex(message({ ...minimal, analysis: { maxErrorRate: 5 } }), /analysis\.maxErrorRate/);
  t.regex(message({ ...minimal, analysis: { minRequests: 0 } }), /analysis\.minRequests/);
  t.regex(message({ ...minimal, verify: { checks: [{ path: 'ready' }] } }), /verify\.checks\.0\.path/);
});

test('hooks and release settings: a command alone gets a 60s timeout, unknown hooks and bad keep values are named', (t) => {
  const s = compileSpec(validateSpec({ ...minimal, hooks: { pre: 'migrate expand', afterStop: { command: ['/bin/true'], timeout: '5s' } }, release: { prepare: 'npm ci' } }));
  t.deepEqual(s.hooks.pre, { argv: ['/bin/sh', '-c', 'migrate expand'], timeoutMs: 60_000 });
  t.deepEqual(s.hooks.afterStop, { argv: ['/bin/true'], timeoutMs: 5000 });
  t.is(s.hooks.beforeStart, undefined);
  t.deepEqual(s.release, { keep: 3, prepareArgv: ['/bin/sh', '-c', 'npm ci'], prepareTimeoutMs: 300_000 });
  const err = t.throws(() => validateSpec({ ...minimal, hooks: { before_start: 'x' }, release: { keep: 0 } }));
  t.regex(err!.message, /hooks: Unrecognized key: "before_start"/);
  t.regex(err!.message, /release\.keep/);
});

test('nginx directives: only ordinary ones, one per entry, none that could run on into the next', (t) => {
  const withDirectives = (...d: string[]) => ({ ...minimal, nginx: { listen: '80', directives: d } });
  for (const ok of ['client_max_body_size 2m;', 'add_header X-Frame-Options "DENY; really";', "proxy_read_timeout 30s;", 'gzip on;', "add_header Cache-Control 'no-store' always;"]) {
    t.notThrows(() => validateSpec(withDirectives(ok)), ok);
  }
  const refused: [string[], RegExp][] = [
    [['access_by_lua "os.execute(\'id\')";'], /access_by_lua is not a directive a spec may add/],
    [['"access_by_lua" "os.execute(\'id\')";'], /access_by_lua is not a directive a spec may add/],
    [["acc\\ess_by_lua 'x';"], /may not contain a backslash/],
    // a quote inside a word is an ordinary character to nginx: this is three statements
    [['add_header X a"b; include /tmp/x.conf; #";'], /may not contain a backslash, "#"/],
    [['add_header X a"b; include /tmp/x.conf;'], /one directive per entry/],
    // an unterminated quote would run on into the next entry as nginx reads them
    [['add_header X "a;', 'add_header Y " ; include /tmp/evil.conf; #";'], /a quote is not closed/],
    [['add_header X "a"b;'], /a closing quote must be followed by a space or ";"/],
    [['add_header X y'], /must end with ";"/],
    [['root /;'], /root is not a directive a spec may add/],
    [['alias /var/lib/zdd-agent/tls/;'], /alias is not a directive/],
    [['proxy_pass http://169.254.169.254/;'], /proxy_pass is not a directive/],
    [['perl_modules /tmp;'], /perl_modules is not a directive/],
    [['js_content main.handler;'], /js_content is not a directive/],
    [['access_log syslog:server=10.0.0.9;'], /access_log is not a directive/],
    [['gzip_static on;'], /gzip_static is not a directive/],
    [['real_ip_header X-Forwarded-For;'], /real_ip_header is not a directive/],
  ];
  for (const [d, why] of refused) t.regex(message(withDirectives(...d)), why, d.join(' | '));
});
