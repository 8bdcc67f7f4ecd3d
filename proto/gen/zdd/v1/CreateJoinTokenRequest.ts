// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface CreateJoinTokenRequest {
  'kind'?: (string);
  'name'?: (string);
  'role'?: (string);
  'ttl_ms'?: (number | string | Long);
}

export interface CreateJoinTokenRequest__Output {
  'kind': (string);
  'name': (string);
  'role': (string);
  'ttl_ms': (number);
}
