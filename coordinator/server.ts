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
  /** how long a resumed rollout waits for its agents to reconnect before going on without them */
  resumeWaitMs: number;
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
  const executor = new Executor(store, hub, systemClock, cfg.log.child({ part: 'executor' }), (id) => control?.changes.emit('change', id), {
    onPausedInMemory: (id, reason) => control?.pausedInMemory.set(id, reason),
    pauseRequested: (id) => control?.pausedInMemory.has(id) ?? false,
  });
  control = new Control(store, hub, executor, cfg.log.child({ part: 'control' }));

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
  // Rollouts this coordinator was running when it stopped continue where they were.
  void control.resumeInterrupted(Math.round(performance.timeOrigin), cfg.resumeWaitMs).catch((err) => cfg.log.error({ err }, 'resume failed'));
  return {
    port,
    async shutdown() {
      executor.stop();
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
