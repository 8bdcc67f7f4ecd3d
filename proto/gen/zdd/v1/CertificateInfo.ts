// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface CertificateInfo {
  'fingerprint'?: (string);
  'kind'?: (string);
  'name'?: (string);
  'role'?: (string);
  'issued_at_ms'?: (number | string | Long);
  'not_after_ms'?: (number | string | Long);
  'revoked_at_ms'?: (number | string | Long);
}

export interface CertificateInfo__Output {
  'fingerprint': (string);
  'kind': (string);
  'name': (string);
  'role': (string);
  'issued_at_ms': (number);
  'not_after_ms': (number);
  'revoked_at_ms': (number);
}
