// Wires the coordinator together: store, agent gateway, executor and control API on one gRPC server.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../lib/log.js';
import { ZddError } from '../lib/errors.js';
import { SERVER_OPTIONS, protos, serverCredentials } from '../lib/grpc.js';
import { SqliteStore } from './store.js';
import { AgentHub } from './agent-hub.js';
import { Executor, systemClock } from './executor.js';
import { Control } from './control.js';

export const COORDINATOR_VERSION = '0.1.0';

export interface CoordinatorConfig {
  listen: string;
  db: string;
  insecure: boolean;
  heartbeatMs: number;
  agentGraceMs: number;
  log: Logger;
}

export interface Coordinator {
  port: number;
  shutdown(): Promise<void>;
}

export async function startCoordinator(cfg: CoordinatorConfig): Promise<Coordinator> {
  const creds = serverCredentials(cfg.listen, cfg.insecure);
  const store = new SqliteStore(cfg.db);
  const hub = new AgentHub(store, cfg.log.child({ part: 'gateway' }), {
    heartbeatMs: cfg.heartbeatMs,
    graceMs: cfg.agentGraceMs,
    coordinatorVersion: COORDINATOR_VERSION,
  });
  let control: Control | undefined;
  const executor = new Executor(store, hub, systemClock, cfg.log.child({ part: 'executor' }), (id) => control?.changes.emit('change', id));
  control = new Control(store, hub, executor, cfg.log.child({ part: 'control' }));

  // Rollouts interrupted by a crash or restart: resume comes with crash-safe rollouts (issue 3);
  // until then they are marked failed, with the reason, so the service is not blocked.
  for (const r of store.runningRollouts()) {
    store.updateRollout(r.id, { state: 'failed', error: 'interrupted by a coordinator restart', endedMs: Date.now() });
    store.addEvent({ rolloutId: r.id, atMs: Date.now(), level: 'error', agentId: '', message: 'interrupted by a coordinator restart' });
  }

  const server = new grpc.Server(SERVER_OPTIONS);
  const { agent, control: ctl } = protos();
  server.addService(agent.zdd.v1.AgentGateway.service, { Session: (call: any) => hub.handle(call) });
  server.addService(ctl.zdd.v1.Control.service, control.handlers());
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(cfg.listen, creds, (err, p) =>
      err ? reject(new ZddError('INVALID_ARGUMENT', `cannot listen on ${cfg.listen}: ${err.message}`, { cause: err })) : resolve(p),
    ),
  );
  cfg.log.info({ listen: cfg.listen, port, db: cfg.db }, 'coordinator listening');
  return {
    port,
    async shutdown() {
      hub.close();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      store.close();
    },
  };
}
