// Original file: proto/zdd/v1/control.proto


export interface ListRolloutsRequest {
  'service'?: (string);
  'limit'?: (number);
}

export interface ListRolloutsRequest__Output {
  'service': (string);
  'limit': (number);
}
