// Original file: proto/zdd/v1/control.proto


export interface ListAuditRequest {
  'limit'?: (number);
}

export interface ListAuditRequest__Output {
  'limit': (number);
}
