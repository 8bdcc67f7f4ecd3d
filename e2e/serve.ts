// A static file server for release artifacts (the edge namespace in e2e/hosts.ts): GET /NAME
// answers the file NAME of one directory, nothing below it.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [dir, listen] = process.argv.slice(2);
if (!dir || !listen) {
  process.stderr.write('usage: serve DIR ADDR:PORT\n');
  process.exit(2);
}
const i = listen.lastIndexOf(':');
const server = http.createServer((req, res) => {
  const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
  const file = path.join(dir, name);
  if (!name || name.includes('/') || name.startsWith('.') || !fs.existsSync(file)) {
    res.writeHead(404).end('not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(file).size });
  if (req.method === 'HEAD') return void res.end();
  fs.createReadStream(file).pipe(res);
  console.log(`${req.method} /${name} 200`);
});
server.listen(Number(listen.slice(i + 1)), listen.slice(0, i), () => console.log(`serving ${dir} on ${listen}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
