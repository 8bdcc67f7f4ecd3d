// Original file: proto/zdd/v1/control.proto


export interface ListEventsRequest {
  'agent_id'?: (string);
  'limit'?: (number);
}

export interface ListEventsRequest__Output {
  'agent_id': (string);
  'limit': (number);
}
