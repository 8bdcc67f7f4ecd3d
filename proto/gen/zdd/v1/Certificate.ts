// Original file: proto/zdd/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface Certificate {
  'cert_pem'?: (string);
  'not_after_ms'?: (number | string | Long);
}

export interface Certificate__Output {
  'cert_pem': (string);
  'not_after_ms': (number);
}
