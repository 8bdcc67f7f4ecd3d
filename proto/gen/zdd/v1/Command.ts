// Original file: proto/zdd/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface Command {
  'command_id'?: (string);
  'kind'?: (string);
  'args_json'?: (string);
  'epoch'?: (number | string | Long);
}

export interface Command__Output {
  'command_id': (string);
  'kind': (string);
  'args_json': (string);
  'epoch': (number);
}
