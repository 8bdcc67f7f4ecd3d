// Original file: proto/zdd/v1/control.proto


export interface RollbackRequest {
  'service'?: (string);
}

export interface RollbackRequest__Output {
  'service': (string);
}
