// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface Step {
  'seq'?: (number);
  'batch'?: (number);
  'phase'?: (number);
  'kind'?: (string);
  'agent_id'?: (string);
  'state'?: (string);
  'detail'?: (string);
  'error'?: (string);
  'started_at_ms'?: (number | string | Long);
  'ended_at_ms'?: (number | string | Long);
  'attempt'?: (number);
  'result_json'?: (string);
}

export interface Step__Output {
  'seq': (number);
  'batch': (number);
  'phase': (number);
  'kind': (string);
  'agent_id': (string);
  'state': (string);
  'detail': (string);
  'error': (string);
  'started_at_ms': (number);
  'ended_at_ms': (number);
  'attempt': (number);
  'result_json': (string);
}
