// `npm run demo`: a coordinator, three agents (host-1 is the edge, with its own nginx) and the
// sample app v1 on loopback; then, under steady keep-alive load (GETs and POSTs), a rolling rollout
// to v2, a canary to v3, a blue/green to v4 and a rollback inside its keep-old window, shown live
// by zddctl, with WebSocket and event-stream clients connected throughout. Ends with "N requests,
// F failed"; exit code 0 only when F is 0 and no long-lived connection ended abnormally.
import { LocalFleet } from '../testkit/local-fleet.js';
import { LoadGen } from '../testkit/loadgen.js';
import { LongLivedClients } from '../testkit/long-lived.js';

const say = (s: string) => process.stdout.write(`\x1b[1m==> ${s}\x1b[0m\n`);

/** Set on Ctrl-C: the cleanup in progress, which every exit path waits for. */
let interrupted: Promise<void> | undefined;

async function main(): Promise<number> {
  say('starting a coordinator and three agents on loopback (host-1 drives nginx), over mutual TLS');
  const fleet = await LocalFleet.start({ agents: 3, logLevel: 'warn' });
  process.stdout.write(
    `    the coordinator made its fleet CA (sha256 ${fleet.caSha256.slice(0, 16)}…) and an admin credential in ${fleet.adminConfig};\n` +
      '    each agent joined with a one-time token (zddctl token create) and pinned the CA; zddctl below runs as that admin\n',
  );
  const onSignal = () => {
    if (interrupted) return;
    process.stdout.write('\ninterrupted: stopping everything the demo started\n');
    interrupted = fleet.stop().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    // each release is a tarball from "the build", staged by the agents before its rollout
    const artifacts = Object.fromEntries(['v1', 'v2', 'v3', 'v4'].map((v) => [v, fleet.packRelease(v)]));
    const from = (v: string) => ['--artifact', artifacts[v].file, '--sha256', artifacts[v].sha256];
    const zddctl = async (args: string[]) => {
      process.stdout.write(`$ zddctl ${args.join(' ')}\n`);
      const r = await fleet.zddctl(args, { inherit: true });
      if (r.code !== 0) throw new Error(`zddctl ${args[0]} failed (exit ${r.code})`);
    };
    say(`applying the service spec (nginx listens on 127.0.0.1:${fleet.nginxPort})`);
    const spec = fleet.spec({
      health: { path: '/healthz', interval: '100ms', timeout: '1s', healthyThreshold: 2, deadline: '20s' },
      // WebSockets and event streams stay 3 s on the old instance after a switch, then the app
      // closes them, spread over 2 s
      stop: { signal: 'SIGTERM', drainTimeout: '10s', longLivedGrace: '3s', spread: '2s' },
      // the expand and contract steps of a schema change, and a smoke test of each new instance
      hooks: {
        pre: 'echo "expand: the schema now serves ${ZDD_OLD_VERSION:-nothing yet} and $ZDD_VERSION"',
        afterHealthy: `${process.execPath} -e "fetch('http://127.0.0.1:'+process.env.PORT+'/').then(r=>{console.log('smoke test: GET / '+r.status);process.exit(r.ok?0:1)})"`,
        post: 'echo "contract: the schema keeps only what $ZDD_VERSION needs"',
      },
    });
    delete spec.workdir; // run each version in its staged release
    await fleet.apply(spec);
    await zddctl(['agents']);
    say('deploying v1 from its release artifact: staged on every host first, with the spec\'s hooks');
    await zddctl(['rollout', 'web', '--version', 'v1', '--batch', '100%', ...from('v1')]);
    say('steady load: 32 keep-alive connections, ~600 requests/s, a fifth of them POSTs, no retries');
    const load = new LoadGen({ host: '127.0.0.1', port: fleet.nginxPort, connections: 32, rps: 600, maxDurationMs: 300_000 }).start();
    say('and 60 WebSocket clients (a message every 500 ms, each echoed) and 10 event-stream clients, reconnecting when closed');
    const longLived = new LongLivedClients({ port: fleet.nginxPort, ws: 60, sse: 10, messageEveryMs: 500 });
    await longLived.start();
    await new Promise((r) => setTimeout(r, 2000));
    say('rolling out v2, one host at a time (a 1s pause between batches, so you can watch it)');
    await zddctl(['plan', 'web', '--version', 'v2', ...from('v2')]);
    await zddctl(['rollout', 'web', '--version', 'v2', '--pause', '1s', ...from('v2')]);
    say('a canary of v3 on one host: 20%, 50%, then 100% of users, each step judged against v1\'s error rate and latency');
    await zddctl(['rollout', 'web', '--version', 'v3', '--strategy', 'canary', '--steps', '20,50,100', '--step-pause', '2s', '--min-requests', '50', ...from('v3')]);
    say('blue/green to v4: a new colour on every host, one switch, v3 kept warm for 5 minutes');
    await zddctl(['rollout', 'web', '--version', 'v4', '--strategy', 'blue-green', '--bake', '2s', '--keep-old', '5m', '--min-requests', '50', ...from('v4')]);
    await new Promise((r) => setTimeout(r, 2000));
    say('rolling back inside the window: one traffic switch to the warm v3');
    process.stdout.write('$ zddctl rollback web\n');
    const rb = await fleet.zddctl(['rollback', 'web'], { inherit: true });
    if (rb.code !== 0) throw new Error(`zddctl rollback failed (exit ${rb.code})`);
    await new Promise((r) => setTimeout(r, 2000));
    const ll = await longLived.stop();
    const stats = await load.stop();
    await zddctl(['history', 'web']);
    say('versions that answered');
    for (const [v, n] of Object.entries(stats.versions)) process.stdout.write(`  ${v}: ${n}\n`);
    if (stats.failed) process.stdout.write(`  failures: ${JSON.stringify(stats.failures)}\n`);
    process.stdout.write(
      `${ll.clients} long-lived clients: ${ll.ended.length} connections closed by the app during the rollouts and reconnected, ${ll.abnormal.length + ll.refused.length} ended abnormally, ${ll.lost} of ${ll.sent} messages lost\n`,
    );
    for (const a of ll.abnormal.slice(0, 5)) process.stdout.write(`  abnormal: ${JSON.stringify(a)}\n`);
    for (const r of ll.refused.slice(0, 5)) process.stdout.write(`  refused: ${r}\n`);
    process.stdout.write(`${stats.requests} requests, ${stats.failed} failed\n`);
    return stats.failed === 0 && !ll.abnormal.length && !ll.refused.length && !ll.lost ? 0 : 1;
  } finally {
    if (!interrupted) {
      say('stopping everything the demo started');
      await fleet.stop();
    }
  }
}

main().then(
  (code) => (interrupted ? interrupted : process.exit(code)),
  (err) => {
    if (interrupted) return interrupted;
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
