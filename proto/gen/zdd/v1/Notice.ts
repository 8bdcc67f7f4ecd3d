// Original file: proto/zdd/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface Notice {
  'level'?: (string);
  'service'?: (string);
  'slot'?: (string);
  'message'?: (string);
  'at_ms'?: (number | string | Long);
}

export interface Notice__Output {
  'level': (string);
  'service': (string);
  'slot': (string);
  'message': (string);
  'at_ms': (number);
}
