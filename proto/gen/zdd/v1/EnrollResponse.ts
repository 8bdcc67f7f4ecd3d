// Original file: proto/zdd/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface EnrollResponse {
  'cert_pem'?: (string);
  'ca_pem'?: (string);
  'kind'?: (string);
  'name'?: (string);
  'role'?: (string);
  'not_after_ms'?: (number | string | Long);
}

export interface EnrollResponse__Output {
  'cert_pem': (string);
  'ca_pem': (string);
  'kind': (string);
  'name': (string);
  'role': (string);
  'not_after_ms': (number);
}
