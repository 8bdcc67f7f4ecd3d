// Original file: proto/zdd/v1/agent.proto


export interface Welcome {
  'coordinator_version'?: (string);
  'heartbeat_ms'?: (number);
}

export interface Welcome__Output {
  'coordinator_version': (string);
  'heartbeat_ms': (number);
}
