#!/usr/bin/env node
// Fails when proto/gen is not what proto-loader-gen-types makes of proto/zdd/v1 today.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-proto-'));
try {
  const protos = fs.readdirSync(path.join(root, 'proto/zdd/v1')).filter((f) => f.endsWith('.proto')).map((f) => `proto/zdd/v1/${f}`);
  execFileSync(
    path.join(root, 'node_modules/.bin/proto-loader-gen-types'),
    ['--keepCase', '--longs=Number', '--enums=String', '--defaults', '--oneofs', '--grpcLib=@grpc/grpc-js', `--outDir=${tmp}`, ...protos],
    { cwd: root, stdio: 'inherit' },
  );
  const list = (dir) => fs.readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.ts')).sort();
  const want = list(tmp);
  const have = list(path.join(root, 'proto/gen'));
  const stale = [...new Set([...want, ...have])].filter(
    (f) => !want.includes(f) || !have.includes(f) || fs.readFileSync(path.join(tmp, f), 'utf8') !== fs.readFileSync(path.join(root, 'proto/gen', f), 'utf8'),
  );
  if (stale.length) {
    console.error(`proto/gen is out of date (${stale.join(', ')}): run npm run proto:gen and commit the result`);
    process.exit(1);
  }
  console.log(`proto/gen is current (${want.length} files)`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
