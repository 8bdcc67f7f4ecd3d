// Original file: proto/zdd/v1/agent.proto


export interface EdgeInfo {
  'mode'?: (string);
  'listen_host'?: (string);
}

export interface EdgeInfo__Output {
  'mode': (string);
  'listen_host': (string);
}
