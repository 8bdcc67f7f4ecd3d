// Original file: proto/zdd/v1/agent.proto


export interface Command {
  'command_id'?: (string);
  'kind'?: (string);
  'args_json'?: (string);
}

export interface Command__Output {
  'command_id': (string);
  'kind': (string);
  'args_json': (string);
}
