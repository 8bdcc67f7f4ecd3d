// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface AgentInfo {
  'id'?: (string);
  'hostname'?: (string);
  'labels'?: ({[key: string]: string});
  'advertise'?: (string);
  'connected'?: (boolean);
  'edge'?: (boolean);
  'edge_mode'?: (string);
  'cores'?: (number);
  'load_pct'?: (number | string);
  'mem_total_bytes'?: (number | string | Long);
  'mem_available_bytes'?: (number | string | Long);
  'last_seen_ms'?: (number | string | Long);
  'instances_json'?: (string);
  'agent_version'?: (string);
  'gone_since_ms'?: (number | string | Long);
  'cordoned'?: (boolean);
  'drain'?: (string);
  'out_of_pool'?: (string)[];
  'ejected'?: (string)[];
}

export interface AgentInfo__Output {
  'id': (string);
  'hostname': (string);
  'labels': ({[key: string]: string});
  'advertise': (string);
  'connected': (boolean);
  'edge': (boolean);
  'edge_mode': (string);
  'cores': (number);
  'load_pct': (number);
  'mem_total_bytes': (number);
  'mem_available_bytes': (number);
  'last_seen_ms': (number);
  'instances_json': (string);
  'agent_version': (string);
  'gone_since_ms': (number);
  'cordoned': (boolean);
  'drain': (string);
  'out_of_pool': (string)[];
  'ejected': (string)[];
}
