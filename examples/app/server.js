#!/usr/bin/env node
// zdd's sample app: answers with its version, accepts POSTs, and shuts down gracefully on SIGTERM
// (stops accepting, finishes in-flight requests, closes idle keep-alive connections).
// It reads PORT, HOST and ZDD_VERSION from the environment, and an optional app-config.json in its
// working directory (a release can ship one) to misbehave on purpose:
//   { "healthStatus": 503, "ignoreSigterm": true, "exitAtOnce": true, "delayMs": 20, "errorRate": 0.2 }
import http from 'node:http';
import fs from 'node:fs';

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
  setTimeout(() => process.exit(0), 25_000).unref();
});
