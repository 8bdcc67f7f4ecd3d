// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface Event {
  'at_ms'?: (number | string | Long);
  'level'?: (string);
  'message'?: (string);
  'agent_id'?: (string);
  'id'?: (number | string | Long);
}

export interface Event__Output {
  'at_ms': (number);
  'level': (string);
  'message': (string);
  'agent_id': (string);
  'id': (number);
}
