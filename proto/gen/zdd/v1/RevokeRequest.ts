// Original file: proto/zdd/v1/control.proto


export interface RevokeRequest {
  'name'?: (string);
}

export interface RevokeRequest__Output {
  'name': (string);
}
