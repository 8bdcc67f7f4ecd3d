// Original file: proto/zdd/v1/control.proto


export interface RemoveAgentResponse {
  'name'?: (string);
}

export interface RemoveAgentResponse__Output {
  'name': (string);
}
