// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface JoinToken {
  'token'?: (string);
  'expires_at_ms'?: (number | string | Long);
  'ca_sha256'?: (string);
}

export interface JoinToken__Output {
  'token': (string);
  'expires_at_ms': (number);
  'ca_sha256': (string);
}
