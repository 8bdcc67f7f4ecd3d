// Original file: proto/zdd/v1/control.proto

import type { AuditEntry as _zdd_v1_AuditEntry, AuditEntry__Output as _zdd_v1_AuditEntry__Output } from '../../zdd/v1/AuditEntry';

export interface ListAuditResponse {
  'entries'?: (_zdd_v1_AuditEntry)[];
}

export interface ListAuditResponse__Output {
  'entries': (_zdd_v1_AuditEntry__Output)[];
}
