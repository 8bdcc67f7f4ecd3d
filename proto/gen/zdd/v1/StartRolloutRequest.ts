// Original file: proto/zdd/v1/control.proto


export interface StartRolloutRequest {
  'service'?: (string);
  'version'?: (string);
  'strategy'?: (string);
  'batch'?: (string);
  'pause_ms'?: (number);
  'failure_limit'?: (number);
}

export interface StartRolloutRequest__Output {
  'service': (string);
  'version': (string);
  'strategy': (string);
  'batch': (string);
  'pause_ms': (number);
  'failure_limit': (number);
}
