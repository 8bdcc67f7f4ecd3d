// Original file: proto/zdd/v1/agent.proto


export interface CommandProgress {
  'command_id'?: (string);
  'message'?: (string);
}

export interface CommandProgress__Output {
  'command_id': (string);
  'message': (string);
}
