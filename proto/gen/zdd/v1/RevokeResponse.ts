// Original file: proto/zdd/v1/control.proto


export interface RevokeResponse {
  'revoked'?: (number);
  'disconnected'?: (boolean);
}

export interface RevokeResponse__Output {
  'revoked': (number);
  'disconnected': (boolean);
}
