// Original file: proto/zdd/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface HostFacts {
  'hostname'?: (string);
  'cores'?: (number);
  'load_pct'?: (number | string);
  'load_avg_1m'?: (number | string);
  'mem_total_bytes'?: (number | string | Long);
  'mem_available_bytes'?: (number | string | Long);
}

export interface HostFacts__Output {
  'hostname': (string);
  'cores': (number);
  'load_pct': (number);
  'load_avg_1m': (number);
  'mem_total_bytes': (number);
  'mem_available_bytes': (number);
}
