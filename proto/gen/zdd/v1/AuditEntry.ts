// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface AuditEntry {
  'at_ms'?: (number | string | Long);
  'principal'?: (string);
  'role'?: (string);
  'action'?: (string);
  'target'?: (string);
  'outcome'?: (string);
  'detail'?: (string);
}

export interface AuditEntry__Output {
  'at_ms': (number);
  'principal': (string);
  'role': (string);
  'action': (string);
  'target': (string);
  'outcome': (string);
  'detail': (string);
}
