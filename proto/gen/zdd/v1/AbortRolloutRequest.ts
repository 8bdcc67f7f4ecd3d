// Original file: proto/zdd/v1/control.proto


export interface AbortRolloutRequest {
  'id'?: (string);
  'reason'?: (string);
}

export interface AbortRolloutRequest__Output {
  'id': (string);
  'reason': (string);
}
