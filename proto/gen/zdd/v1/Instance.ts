// Original file: proto/zdd/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface Instance {
  'service'?: (string);
  'slot'?: (string);
  'version'?: (string);
  'port'?: (number);
  'pid'?: (number);
  'state'?: (string);
  'started_at_ms'?: (number | string | Long);
  'log_file'?: (string);
  'restarts'?: (number);
}

export interface Instance__Output {
  'service': (string);
  'slot': (string);
  'version': (string);
  'port': (number);
  'pid': (number);
  'state': (string);
  'started_at_ms': (number);
  'log_file': (string);
  'restarts': (number);
}
