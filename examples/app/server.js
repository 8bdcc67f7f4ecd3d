#!/usr/bin/env node
// zdd's sample app: answers with its version, accepts POSTs, serves a WebSocket (/ws: a hello,
// then an echo of each message) and server-sent events (/events: a tick a second), and shuts down
// gracefully on SIGTERM: stops accepting, finishes in-flight requests, closes idle keep-alive
// connections, and closes its WebSockets (1001, going away) and event streams spread over
// ZDD_STOP_SPREAD_MS, so that their clients do not all reconnect at once.
// It reads PORT, HOST and ZDD_VERSION from the environment, and an optional app-config.json in its
// working directory (a release can ship one) to misbehave on purpose:
//   { "healthStatus": 503, "ignoreSigterm": true, "exitAtOnce": true, "delayMs": 20, "errorRate": 0.2 }
import http from 'node:http';
import fs from 'node:fs';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const version = process.env.ZDD_VERSION ?? process.env.APP_VERSION ?? 'dev';
let config = {};
try {
  config = JSON.parse(fs.readFileSync('app-config.json', 'utf8'));
} catch {
  /* no config: behave */
}

let shuttingDown = false;
let orders = 0;

const server = http.createServer((req, res) => {
  if (shuttingDown) res.setHeader('Connection', 'close');
  const reply = (status, body) => {
    const send = () => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'X-App-Version': version });
      res.end(JSON.stringify(body));
    };
    config.delayMs ? setTimeout(send, config.delayMs) : send();
  };
  if (req.url === '/healthz') {
    const status = shuttingDown ? 503 : config.healthStatus ?? 200;
    return reply(status, { status: status === 200 ? 'ok' : 'unhealthy', version });
  }
  if (config.errorRate && Math.random() < config.errorRate) return reply(500, { error: 'injected failure', version });
  if (req.url === '/events') return serveEvents(req, res);
  if (req.method === 'POST') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let order;
      try {
        order = JSON.parse(body || '{}');
      } catch {
        return reply(400, { error: 'body is not JSON', version });
      }
      orders++;
      reply(201, { accepted: order.id ?? null, version, orders });
    });
    return;
  }
  reply(200, { version, pid: process.pid, slot: process.env.ZDD_SLOT ?? '' });
});

// Long-lived connections: each is closed by the app (never cut) when it shuts down.
const sockets = new Set();
const streams = new Set();
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  if (shuttingDown || req.url !== '/ws') {
    socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('error', () => sockets.delete(ws));
    ws.on('message', (data) => ws.send(JSON.stringify({ echo: String(data), version })));
    ws.send(JSON.stringify({ hello: true, version, pid: process.pid }));
  });
});
// a ping now and then keeps an idle WebSocket inside nginx's proxy_read_timeout (60s)
setInterval(() => sockets.forEach((ws) => ws.ping()), 20_000).unref();
function serveEvents(req, res) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-App-Version': version });
  res.write(`event: hello\ndata: ${JSON.stringify({ version, pid: process.pid })}\n\n`);
  let n = 0;
  const timer = setInterval(() => res.write(`data: ${JSON.stringify({ tick: ++n, version })}\n\n`), 1000);
  const stream = { res, timer };
  streams.add(stream);
  req.on('close', () => {
    clearInterval(timer);
    streams.delete(stream);
  });
}

// Longer than nginx's upstream keepalive_timeout, so nginx always closes an idle connection first.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(port, host, () => console.log(`sample app ${version} listening on ${host}:${port}`));

process.on('SIGTERM', () => {
  if (config.ignoreSigterm) return console.log('SIGTERM ignored (app-config.json says so)');
  if (config.exitAtOnce) process.exit(0);
  console.log('SIGTERM: draining');
  shuttingDown = true;
  server.close(() => {
    console.log('drained; exiting');
    process.exit(0);
  });
  server.closeIdleConnections();
  // each long-lived connection is closed at a random moment within the spread zdd gives
  const spread = Number(process.env.ZDD_STOP_SPREAD_MS) || 0;
  const later = (fn) => (spread > 0 ? setTimeout(fn, Math.random() * spread) : fn());
  for (const ws of sockets) later(() => ws.close(1001, 'going away: a new version is taking over'));
  for (const s of streams) {
    later(() => {
      clearInterval(s.timer);
      s.res.end('event: bye\ndata: reconnect\n\n');
    });
  }
  setTimeout(() => process.exit(0), 25_000 + spread).unref();
});
