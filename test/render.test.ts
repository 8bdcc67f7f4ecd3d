import test from 'ava';
import { docOfUpstreamConf, renderHttpConf, renderMainConf, renderServiceConf, renderUpstreamConf } from '../agent/nginx/render.js';
import { compileSpec, validateSpec } from '../lib/spec.js';

const spec = (nginx: Record<string, unknown> = {}) =>
  compileSpec(validateSpec({ name: 'web-app', command: 'x', ports: { a: 1, b: 2 }, nginx: { listen: '127.0.0.1:8080', ...nginx } }));

test('dynamic mode: the Lua balancer picks the peer, keepalive comes after it, and the log phase counts requests out', (t) => {
  const conf = renderServiceConf(spec(), 'dynamic', '/unused');
  t.regex(conf, /upstream zdd_web_app \{\n  server 0\.0\.0\.1:1;[^\n]*\n  balancer_by_lua_block \{ require\("zdd"\)\.balance\("web-app", true\) \}\n  keepalive 64;\n  keepalive_timeout 4000ms;\n\}/);
  t.regex(conf, /listen 127\.0\.0\.1:8080;/);
  t.regex(conf, /proxy_pass http:\/\/zdd_web_app;/);
  // WebSocket upgrades pass, and no other upgrade (h2c); without one, Connection stays empty
  // (upstream keep-alive); streams are not buffered
  t.regex(conf, /map \$http_upgrade \$zdd_upgrade_web_app \{ ~\*\^websocket\$ upgrade; default ""; \}/);
  t.regex(conf, /map \$http_upgrade \$zdd_upgrade_to_web_app \{ ~\*\^websocket\$ \$http_upgrade; default ""; \}/);
  t.regex(conf, /proxy_set_header Upgrade \$zdd_upgrade_to_web_app;\n    proxy_set_header Connection \$zdd_upgrade_web_app;/);
  t.regex(conf, /proxy_buffering off;/);
  // the key: the cookie, else address and user agent; a client without the cookie gets one from
  // Lua (no add_header: it would hide the http level's own from this location)
  t.regex(conf, /map \$cookie_zdd_key \$zdd_client_key_web_app \{ "" "\$remote_addr\|\$http_user_agent"; default \$cookie_zdd_key; \}/);
  t.regex(conf, /header_filter_by_lua_block \{ require\("zdd"\)\.key_cookie\("zdd_key", "zdd_key=; Path=\/; Max-Age=31536000; HttpOnly; SameSite=Lax"\) \}/);
  t.notRegex(conf, /add_header/);
  t.regex(renderServiceConf(spec({ clientCookie: 'sid_key' }), 'dynamic', '/unused'), /map \$cookie_sid_key \$zdd_client_key_web_app/);
  // a spec that sets its own buffering keeps it
  t.notRegex(renderServiceConf(spec({ directives: ['proxy_buffering on;'] }), 'dynamic', '/unused'), /proxy_buffering off;/);
  t.regex(conf, /log_by_lua_block \{ require\("zdd"\)\.log\("web-app"\) \}/);
  t.regex(conf, /proxy_next_upstream error;\n    proxy_next_upstream_tries 2;/);
  t.notRegex(conf, /include /);
});

test('retry off renders proxy_next_upstream off and no extra tries', (t) => {
  const conf = renderServiceConf(spec({ retry: 'off' }), 'dynamic', '/unused');
  t.regex(conf, /proxy_next_upstream off;/);
  t.regex(conf, /balance\("web-app", false\)/);
  t.notRegex(conf, /proxy_next_upstream_tries/);
});

test("operator directives land inside the service's location", (t) => {
  const conf = renderServiceConf(spec({ directives: ['client_max_body_size 2m;'] }), 'reload', '/var/lib/zdd/up.conf');
  t.regex(conf, /location \/ \{[^}]*client_max_body_size 2m;\n  \}/);
  t.regex(conf, /include \/var\/lib\/zdd\/up\.conf;/);
  t.notRegex(conf, /lua/);
});

test('reload mode: the upstream include is a pure function of the traffic document', (t) => {
  const doc = {
    service: 'web-app',
    generation: 12,
    backends: [
      { addr: '10.0.0.1:8002', track: 'stable', weight: 1 },
      { addr: '10.0.0.2:8001', track: 'stable', weight: 0 },
    ],
  };
  const conf = renderUpstreamConf(spec(), doc);
  t.is(conf, renderUpstreamConf(spec(), doc));
  t.regex(conf, /map \$host \$zdd_gen_web_app \{ default "12"; \}/);
  t.regex(conf, /server 10\.0\.0\.1:8002 weight=1 max_fails=1 fail_timeout=1s;/);
  t.notRegex(conf, /server 10\.0\.0\.2/, 'a backend with weight 0 gets no traffic');
  t.deepEqual(docOfUpstreamConf(conf), doc, 'the file holds the document it was rendered from');
  t.regex(renderUpstreamConf(spec(), { service: 'web-app', generation: 0, backends: [] }), /server 127\.0\.0\.1:1 down;/);
});

test('the admin server is loopback-only and answers the config serial', (t) => {
  const dyn = renderHttpConf({ mode: 'dynamic', adminListen: '127.0.0.1:9180', luaDir: '/opt/zdd/lua', services: [{ name: 'web', trafficFile: '/s/web.txt', healthPath: '/healthz', healthStatus: 200 }], serial: 'abc123' });
  t.regex(dyn, /lua_shared_dict zdd 16m;/);
  t.regex(dyn, /init_by_lua_block \{ require\("zdd"\)\.init\(\{ \{ "web", "\/s\/web\.txt", "\/healthz", 200 \} \}\) \}/);
  // ejected backends are probed back with the service's health check
  t.regex(dyn, /init_worker_by_lua_block \{ require\("zdd"\)\.worker\(\) \}/);
  t.regex(dyn, /listen 127\.0\.0\.1:9180;\n  access_log off;\n  allow 127\.0\.0\.1;\n  allow ::1;\n  deny all;/);
  t.regex(dyn, /location = \/zdd\/config \{ default_type text\/plain; return 200 "abc123\\n"; \}/);
  const rel = renderHttpConf({ mode: 'reload', adminListen: '127.0.0.1:9180', luaDir: '/x', services: [{ name: 'web', trafficFile: '', healthPath: '/', healthStatus: 200 }], serial: 's' });
  t.notRegex(rel, /lua/);
  t.regex(rel, /location = \/zdd\/traffic\/web \{ default_type text\/plain; return 200 "\$zdd_gen_web\\n"; \}/);
});

test('a private nginx loads the Lua modules only in dynamic mode', (t) => {
  const base = { prefix: '/p', modulesDir: '/m', includeGlob: '/p/conf/zdd/*.conf', runAsRoot: false, workerProcesses: 2 };
  t.regex(renderMainConf({ ...base, mode: 'dynamic' }), /^load_module \/m\/ndk_http_module\.so;\nload_module \/m\/ngx_http_lua_module\.so;$/m);
  t.notRegex(renderMainConf({ ...base, mode: 'reload' }), /load_module/);
  t.regex(renderMainConf({ ...base, mode: 'reload' }), /include \/p\/conf\/zdd\/\*\.conf;/);
});

test('reload mode: one upstream per track, split_clients for the canary share, and header, cookie and preview choosing a track', (t) => {
  const doc = {
    service: 'web-app',
    generation: 3,
    primary: 'stable',
    preview: 'canary',
    split: { track: 'canary', percent: 25 },
    backends: [
      { addr: '10.0.0.1:8001', track: 'stable', weight: 1 },
      { addr: '10.0.0.1:8002', track: 'canary', weight: 1 },
    ],
  };
  const conf = renderUpstreamConf(spec(), doc);
  t.regex(conf, /upstream zdd_web_app__stable \{\n  server 10\.0\.0\.1:8001 /);
  t.regex(conf, /upstream zdd_web_app__canary \{\n  server 10\.0\.0\.1:8002 /);
  t.regex(conf, /split_clients "\$zdd_client_key_web_app" \$zdd_split_web_app \{ 25% canary; \* stable; \}/);
  t.regex(conf, /map \$zdd_listener \$zdd_base_web_app \{ preview canary; default \$zdd_split_web_app; \}/);
  // the names a client may ask for, whatever the strategy named the tracks, then each track's own
  t.regex(conf, /map \$http_x_zdd_track \$zdd_track_web_app \{ stable stable; canary canary; preview canary; default \$zdd_cookie_web_app; \}/);
  const blueGreen = renderUpstreamConf(spec(), { service: 'web-app', generation: 4, primary: 'blue', backends: [{ addr: '10.0.0.1:8002', track: 'blue', weight: 1 }] });
  t.regex(blueGreen, /map \$http_x_zdd_track \$zdd_track_web_app \{ stable blue; blue blue; default \$zdd_cookie_web_app; \}/);
  const svc = renderServiceConf(spec(), 'reload', '/u/web-app.conf', '/l/access-web-app.log');
  // plain nginx sets the key cookie with add_header
  t.regex(svc, /map \$cookie_zdd_key \$zdd_set_key_web_app \{ "" "zdd_key=\$request_id; Path=\/; Max-Age=31536000; HttpOnly; SameSite=Lax"; default ""; \}/);
  t.regex(svc, /add_header Set-Cookie \$zdd_set_key_web_app always;/);
  t.regex(svc, /proxy_pass http:\/\/zdd_web_app__\$zdd_track_web_app;/);
  t.regex(svc, /access_log \/l\/access-web-app\.log zdd_web_app;/);
  t.regex(svc, /log_format zdd_web_app '\$zdd_track_web_app \$upstream_addr \$status \$request_time';/);
});

test('a preview listener is a second server on the same upstream, marked for the balancer', (t) => {
  const conf = renderServiceConf(spec({ preview: '127.0.0.1:8081' }), 'dynamic', '/u');
  t.regex(conf, /listen 127\.0\.0\.1:8080;\n  server_name _;\n  set \$zdd_listener live;/);
  t.regex(conf, /listen 127\.0\.0\.1:8081;\n  server_name _;\n  set \$zdd_listener preview;/);
  t.is(conf.match(/proxy_pass http:\/\/zdd_web_app;/g)?.length, 2);
  t.notRegex(renderServiceConf(spec(), 'dynamic', '/u'), /zdd_listener preview/);
});
