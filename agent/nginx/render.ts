// Pure renderers: config in, nginx text out. No I/O here; agent/nginx/edge.ts writes and applies.
import type { CompiledSpec } from '../../lib/spec.js';
import type { TrafficDoc } from '../../lib/traffic.js';

export type EdgeMode = 'dynamic' | 'reload';

const HEADER = '# Rendered by zdd-agent. Do not edit: the next change overwrites this file.\n';

const q = (s: string) => JSON.stringify(s); // a valid nginx and Lua string literal for the paths we render

export interface MainConfInput {
  prefix: string;
  mode: EdgeMode;
  modulesDir: string;
  includeGlob: string;
  runAsRoot: boolean;
  workerProcesses: number;
}

/** nginx.conf for an nginx the agent runs itself (tests, the demo, hosts without a system nginx). */
export function renderMainConf(i: MainConfInput): string {
  const modules =
    i.mode === 'dynamic'
      ? `load_module ${i.modulesDir}/ndk_http_module.so;\nload_module ${i.modulesDir}/ngx_http_lua_module.so;\n`
      : '';
  return (
    HEADER +
    modules +
    // Workers of this private nginx read files under the agent's state dir, which may be 0700.
    (i.runAsRoot ? 'user root;\n' : '') +
    `worker_processes ${i.workerProcesses};\n` +
    // long-lived connections hold two descriptors each (client and app) for minutes
    'worker_rlimit_nofile 20000;\n' +
    `pid ${i.prefix}/nginx.pid;\n` +
    `error_log ${i.prefix}/logs/error.log warn;\n` +
    'events { worker_connections 8192; }\n' +
    'http {\n' +
    '  access_log off;\n' +
    `  client_body_temp_path ${i.prefix}/temp/body;\n` +
    `  proxy_temp_path ${i.prefix}/temp/proxy;\n` +
    `  fastcgi_temp_path ${i.prefix}/temp/fastcgi;\n` +
    `  uwsgi_temp_path ${i.prefix}/temp/uwsgi;\n` +
    `  scgi_temp_path ${i.prefix}/temp/scgi;\n` +
    '  keepalive_timeout 75s;\n' +
    `  include ${i.includeGlob};\n` +
    '}\n'
  );
}

export interface HttpConfInput {
  mode: EdgeMode;
  adminListen: string;
  luaDir: string;
  /** every service this edge serves, with the traffic file nginx restores it from and the health check that lets an ejected backend back */
  services: { name: string; trafficFile: string; healthPath: string; healthStatus: number }[];
  /** answered at /zdd/config so the agent can verify that a reload took effect */
  serial: string;
}

/** The http-level part zdd owns: the shared dictionary, the Lua module and the admin listener. */
export function renderHttpConf(i: HttpConfInput): string {
  let out = HEADER;
  if (i.mode === 'dynamic') {
    const list = i.services.map((s) => `{ ${q(s.name)}, ${q(s.trafficFile)}, ${q(s.healthPath)}, ${s.healthStatus} }`).join(', ');
    out +=
      'lua_shared_dict zdd 16m;\n' +
      'lua_shared_dict zdd_down 1m;\n' +
      // for --edge-access-log: when each request ended, how long it took, and which upstreams it tried
      "log_format zdd_edge '$msec $request_time $status $request_method $upstream_addr $upstream_status $upstream_header_time';\n" +
      `lua_package_path ${q(`${i.luaDir}/?.lua;;`)};\n` +
      `init_by_lua_block { require("zdd").init({ ${list} }) }\n` +
      // the prober: ejected backends are let back once their health check passes
      'init_worker_by_lua_block { require("zdd").worker() }\n';
  }
  out +=
    'server {\n' +
    `  listen ${i.adminListen};\n` +
    '  access_log off;\n' +
    '  allow 127.0.0.1;\n' +
    '  allow ::1;\n' +
    '  deny all;\n' +
    '  client_max_body_size 1m;\n' +
    '  client_body_buffer_size 1m;\n' +
    `  location = /zdd/config { default_type text/plain; return 200 ${q(i.serial + '\n')}; }\n`;
  if (i.mode === 'dynamic') {
    out += '  location /zdd/ { content_by_lua_block { require("zdd").admin() } }\n';
  } else {
    for (const s of i.services) {
      out += `  location = /zdd/traffic/${s.name} { default_type text/plain; return 200 "$zdd_gen_${varName(s.name)}\\n"; }\n`;
    }
  }
  return out + '}\n';
}

const varName = (service: string) => service.replace(/-/g, '_');
/** The key cookie as the edge sets it; VALUE is nginx's $request_id (or, with '', put by Lua before the first ";"). */
const setCookie = (name: string, value: string) => `${name}=${value}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax`;
export const upstreamName = (service: string) => `zdd_${varName(service)}`;

/** A service's listener and upstream. In dynamic mode the upstream's peer is chosen by Lua. */
export function renderServiceConf(spec: CompiledSpec, mode: EdgeMode, upstreamFile: string, accessLog?: string): string {
  const n = spec.nginx;
  const up = upstreamName(spec.name);
  const retry =
    n.retry === 'off'
      ? '    proxy_next_upstream off;\n'
      : // nginx never retries a non-idempotent request (POST) once it was sent; GETs are retried
        // on a connection error only.
        '    proxy_next_upstream error;\n    proxy_next_upstream_tries 2;\n';
  let out = HEADER;
  if (mode === 'dynamic') {
    out +=
      `upstream ${up} {\n` +
      '  server 0.0.0.1:1; # placeholder: the Lua balancer picks the peer\n' +
      `  balancer_by_lua_block { require("zdd").balance(${q(spec.name)}, ${n.retry === 'connect'}) }\n` +
      (n.upstreamKeepalive > 0
        ? `  keepalive ${n.upstreamKeepalive};\n  keepalive_timeout ${n.upstreamKeepaliveTimeoutMs}ms;\n`
        : '') +
      '}\n';
  } else {
    // per request: the track (maps and split_clients in the upstream include), and a log line per
    // request naming track, backend, status and time, which the agent counts for analysis
    out += `log_format ${up} '$zdd_track_${varName(spec.name)} $upstream_addr $status $request_time';\n`;
    out += `include ${upstreamFile};\n`;
  }
  const v = varName(spec.name);
  const target = mode === 'dynamic' ? up : `${up}__$zdd_track_${v}`;
  // a WebSocket upgrade is passed on, and nothing else (an h2c "upgrade" from an HTTP client is
  // not the app's business); without one, Connection stays empty (upstream keep-alive)
  out += `map $http_upgrade $zdd_upgrade_${v} { ~*^websocket$ upgrade; default ""; }\n`;
  out += `map $http_upgrade $zdd_upgrade_to_${v} { ~*^websocket$ $http_upgrade; default ""; }\n`;
  // the client's key for a canary's share: its cookie; without one, address and user agent (a
  // client that keeps no cookies stays on its track), and the edge sets a cookie on the answer, so
  // that from then on a share is a share of clients, even of many behind one address
  const cookie = n.clientCookie;
  out += `map $cookie_${cookie} $zdd_client_key_${v} { "" "$remote_addr|$http_user_agent"; default $cookie_${cookie}; }\n`;
  if (mode === 'reload') out += `map $cookie_${cookie} $zdd_set_key_${v} { "" "${setCookie(cookie, '$request_id')}"; default ""; }\n`;
  const own = (name: string) => n.directives.some((d) => d.trim().startsWith(`${name} `));
  const server = (listen: string, listener: 'live' | 'preview') =>
    'server {\n' +
    `  listen ${listen};\n` +
    `  server_name ${n.serverName};\n` +
    // read by the balancer: the preview listener serves the preview track
    `  set $zdd_listener ${listener};\n` +
    `  set $zdd_client_key $zdd_client_key_${v};\n` +
    '  location / {\n' +
    `    proxy_pass http://${target};\n` +
    '    proxy_http_version 1.1;\n' +
    `    proxy_set_header Upgrade $zdd_upgrade_to_${v};\n` +
    `    proxy_set_header Connection $zdd_upgrade_${v};\n` +
    // dynamic mode sets the key cookie from Lua; add_header here would hide the http level's own
    // add_header lines from this location (nginx inherits them only into blocks that have none)
    (mode === 'dynamic' ? `    header_filter_by_lua_block { require("zdd").key_cookie(${q(cookie)}, ${q(setCookie(cookie, ''))}) }\n` : `    add_header Set-Cookie $zdd_set_key_${v} always;\n`) +
    // server-sent events and other streams reach the client as they are written (a spec may say otherwise)
    (own('proxy_buffering') ? '' : '    proxy_buffering off;\n') +
    '    proxy_set_header Host $host;\n' +
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n' +
    '    proxy_connect_timeout 2s;\n' +
    retry +
    (mode === 'dynamic'
      ? `    log_by_lua_block { require("zdd").log(${q(spec.name)}) }\n` + (accessLog ? `    access_log ${q(accessLog)} zdd_edge;\n` : '')
      : accessLog ? `    access_log ${accessLog} ${up};\n` : '') +
    n.directives.map((d) => `    ${d}\n`).join('') +
    '  }\n' +
    '}\n';
  out += server(n.listen, 'live');
  if (n.preview) out += server(n.preview, 'preview');
  return out;
}

const DOC_MARK = '# zdd-traffic ';

/** The traffic document an upstream include was rendered from (undefined for older files). */
export function docOfUpstreamConf(text: string): TrafficDoc | undefined {
  const line = text.split('\n').find((l) => l.startsWith(DOC_MARK));
  try {
    return line ? (JSON.parse(line.slice(DOC_MARK.length)) as TrafficDoc) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reload mode: the upstream include, a pure function of the traffic document. One upstream per
 * track; the track of a request is chosen as the Lua balancer does: a header or cookie that forces
 * an existing track, the preview listener's track, split_clients on the client key for a canary
 * share, else the primary track.
 */
export function renderUpstreamConf(spec: CompiledSpec, doc: TrafficDoc): string {
  const n = spec.nginx;
  const v = varName(spec.name);
  const up = upstreamName(spec.name);
  const primary = doc.primary ?? 'stable';
  const live = doc.backends.filter((b) => b.weight > 0);
  const tracks = [...new Set([primary, ...live.map((b) => b.track)])].sort();
  // the document itself rides along, so the file can be rendered again from what it holds
  let out = HEADER + `${DOC_MARK}${JSON.stringify(doc)}\n` + `map $host $zdd_gen_${v} { default "${doc.generation}"; }\n`;
  for (const t of tracks) {
    const servers = live.filter((b) => b.track === t);
    out +=
      `upstream ${up}__${t} {\n` +
      // passive ejection: a backend that fails once is left alone for a second (plain nginx has no
      // active health check; the next request after that is the probe)
      (servers.length ? servers.map((b) => `  server ${b.addr} weight=${b.weight} max_fails=1 fail_timeout=1s;\n`).join('') : '  server 127.0.0.1:1 down; # no backend yet\n') +
      (n.upstreamKeepalive > 0 ? `  keepalive ${n.upstreamKeepalive};\n  keepalive_timeout ${n.upstreamKeepaliveTimeoutMs}ms;\n` : '') +
      '}\n';
  }
  const split = doc.split && doc.split.percent > 0 && tracks.includes(doc.split.track) ? doc.split : undefined;
  if (split) {
    out += `split_clients "$zdd_client_key_${v}" $zdd_split_${v} { ${split.percent >= 100 ? `* ${split.track};` : `${split.percent}% ${split.track}; * ${primary};`} }\n`;
  } else {
    out += `map $host $zdd_split_${v} { default ${primary}; }\n`;
  }
  const preview = doc.preview && tracks.includes(doc.preview) ? doc.preview : `$zdd_split_${v}`;
  // the names a client may ask for whatever the strategy named its tracks (as zdd.lua's alias()),
  // then each track's own name; anything else falls through to the track it would have had
  const names = new Map<string, string>([['stable', primary]]);
  if (split) names.set('canary', split.track);
  if (doc.preview && tracks.includes(doc.preview)) names.set('preview', doc.preview);
  for (const t of tracks) if (!names.has(t)) names.set(t, t);
  const forced = (source: string, name: string, otherwise: string) =>
    `map ${source} ${name} { ${[...names].map(([k, t]) => `${k} ${t}; `).join('')}default ${otherwise}; }\n`;
  out += `map $zdd_listener $zdd_base_${v} { preview ${preview}; default $zdd_split_${v}; }\n`;
  out += forced('$cookie_zdd_track', `$zdd_cookie_${v}`, `$zdd_base_${v}`);
  out += forced('$http_x_zdd_track', `$zdd_track_${v}`, `$zdd_cookie_${v}`);
  return out;
}
