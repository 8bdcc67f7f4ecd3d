// Garbage on the wire: the coordinator answers with an error, stores nothing and keeps serving.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { fleetFor } from './support/fleet.js';

test('garbage gRPC messages and a bad hello are refused without harm', async (t) => {
  const fleet = await fleetFor(t, { agents: 1 });
  const Raw = grpc.makeGenericClientConstructor(
    {
      ApplyService: {
        path: '/zdd.v1.Control/ApplyService',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
      Session: {
        path: '/zdd.v1.AgentGateway/Session',
        requestStream: true,
        responseStream: true,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    'Raw',
  );
  const { fleetClientCredentials } = await import('../lib/grpc.js');
  const { readClientConfig } = await import('../lib/client-config.js');
  // garbage from a caller with valid credentials (TLS stops everyone else before this)
  const raw = new Raw(fleet.coordinatorAddr, fleetClientCredentials(readClientConfig(fleet.adminConfig)), { 'grpc.ssl_target_name_override': 'zdd-coordinator' }) as any;
  t.teardown(() => raw.close());
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99]);
  const err = await new Promise<grpc.ServiceError>((resolve) => raw.ApplyService(garbage, (e: grpc.ServiceError) => resolve(e)));
  t.truthy(err, 'the call fails');
  t.not(err.code, grpc.status.OK);

  const stream = raw.Session();
  const ended = new Promise<string>((resolve) => {
    stream.on('error', (e: grpc.ServiceError) => resolve(e.details));
    stream.on('end', () => resolve('ended'));
  });
  stream.write(garbage);
  t.truthy(await ended);

  // a well-formed hello with an id that is not allowed, from a real agent's certificate
  const { protos, CLIENT_OPTIONS } = await import('../lib/grpc.js');
  const agentCreds = fleet.agentCredentials(1);
  const client = new (protos().agent.zdd.v1.AgentGateway)(fleet.coordinatorAddr, fleetClientCredentials(agentCreds), CLIENT_OPTIONS);
  t.teardown(() => client.close());
  const s = client.Session();
  const why = new Promise<string>((resolve) => {
    s.on('error', (e: grpc.ServiceError) => resolve(e.details));
    s.on('end', () => resolve('ended without an error'));
  });
  s.write({ hello: { agent_id: '../../etc', labels: {} } });
  t.regex(await why, /hello refused: agent_id: expected letters, digits/);

  const agents = JSON.parse((await fleet.zddctl(['agents', '--json'])).stdout);
  t.deepEqual(agents.map((a: any) => a.id), ['host-1'], 'nothing was registered');
  t.is((await fleet.zddctl(['history', 'web'])).code, 1, 'no service was stored');
});
