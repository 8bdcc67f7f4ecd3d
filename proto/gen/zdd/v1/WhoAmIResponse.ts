// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface WhoAmIResponse {
  'principal'?: (string);
  'role'?: (string);
  'not_after_ms'?: (number | string | Long);
}

export interface WhoAmIResponse__Output {
  'principal': (string);
  'role': (string);
  'not_after_ms': (number);
}
