// Original file: proto/zdd/v1/control.proto


export interface ListAgentsRequest {
  'page_token'?: (string);
  'page_size'?: (number);
  'id'?: (string);
}

export interface ListAgentsRequest__Output {
  'page_token': (string);
  'page_size': (number);
  'id': (string);
}
