// Original file: proto/zdd/v1/agent.proto

import type { HostFacts as _zdd_v1_HostFacts, HostFacts__Output as _zdd_v1_HostFacts__Output } from '../../zdd/v1/HostFacts';
import type { Instance as _zdd_v1_Instance, Instance__Output as _zdd_v1_Instance__Output } from '../../zdd/v1/Instance';
import type { EdgeInfo as _zdd_v1_EdgeInfo, EdgeInfo__Output as _zdd_v1_EdgeInfo__Output } from '../../zdd/v1/EdgeInfo';

export interface Hello {
  'agent_id'?: (string);
  'agent_version'?: (string);
  'labels'?: ({[key: string]: string});
  'advertise'?: (string);
  'port_offset'?: (number);
  'facts'?: (_zdd_v1_HostFacts | null);
  'instances'?: (_zdd_v1_Instance)[];
  'edge'?: (_zdd_v1_EdgeInfo | null);
  'releases_roots'?: (string)[];
}

export interface Hello__Output {
  'agent_id': (string);
  'agent_version': (string);
  'labels': ({[key: string]: string});
  'advertise': (string);
  'port_offset': (number);
  'facts': (_zdd_v1_HostFacts__Output | null);
  'instances': (_zdd_v1_Instance__Output)[];
  'edge': (_zdd_v1_EdgeInfo__Output | null);
  'releases_roots': (string)[];
}
