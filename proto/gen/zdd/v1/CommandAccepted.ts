// Original file: proto/zdd/v1/agent.proto


export interface CommandAccepted {
  'command_id'?: (string);
  'replayed'?: (boolean);
}

export interface CommandAccepted__Output {
  'command_id': (string);
  'replayed': (boolean);
}
