// Asks a URL `count` times on fresh connections, from wherever it runs (the client namespace), and
// prints what answered as one JSON line: [{ status, version, pid }], status 0 for no answer.
import http from 'node:http';

const [target, countArg] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: probe URL [COUNT]\n');
  process.exit(2);
}
const count = Number(countArg ?? 20);

function once(): Promise<{ status: number; version: string; pid: number }> {
  return new Promise((resolve) => {
    http
      .get(target, { agent: false, timeout: 3000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let pid = 0;
          try {
            pid = Number(JSON.parse(text).pid) || 0;
          } catch {
            /* not the sample app */
          }
          resolve({ status: res.statusCode ?? 0, version: String(res.headers['x-app-version'] ?? ''), pid });
        });
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('timeout'));
      })
      .on('error', () => resolve({ status: 0, version: '', pid: 0 }));
  });
}

const answers = [];
for (let i = 0; i < count; i++) answers.push(await once());
process.stdout.write(`${JSON.stringify(answers)}\n`);
