// Original file: proto/zdd/v1/agent.proto


export interface CommandResult {
  'command_id'?: (string);
  'ok'?: (boolean);
  'error_code'?: (string);
  'error_message'?: (string);
  'result_json'?: (string);
}

export interface CommandResult__Output {
  'command_id': (string);
  'ok': (boolean);
  'error_code': (string);
  'error_message': (string);
  'result_json': (string);
}
