// Where the package's own files live, so that compiled code finds the protos and the Lua module.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root (the folder holding package.json), from dist/lib/ or lib/. */
export const ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (path.basename(dir) === 'lib') {
      const up = path.dirname(dir);
      return path.basename(up) === 'dist' ? path.dirname(up) : up;
    }
    dir = path.dirname(dir);
  }
  throw new Error('cannot locate the zdd package root');
})();

export const PROTO_DIR = path.join(ROOT, 'proto');
export const LUA_DIR = path.join(ROOT, 'agent', 'nginx', 'lua');
