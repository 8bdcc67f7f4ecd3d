// Original file: proto/zdd/v1/agent.proto

import type { HostFacts as _zdd_v1_HostFacts, HostFacts__Output as _zdd_v1_HostFacts__Output } from '../../zdd/v1/HostFacts';
import type { Instance as _zdd_v1_Instance, Instance__Output as _zdd_v1_Instance__Output } from '../../zdd/v1/Instance';

export interface Heartbeat {
  'facts'?: (_zdd_v1_HostFacts | null);
  'instances'?: (_zdd_v1_Instance)[];
  'ejected'?: (string)[];
}

export interface Heartbeat__Output {
  'facts': (_zdd_v1_HostFacts__Output | null);
  'instances': (_zdd_v1_Instance__Output)[];
  'ejected': (string)[];
}
