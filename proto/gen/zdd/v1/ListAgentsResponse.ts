// Original file: proto/zdd/v1/control.proto

import type { AgentInfo as _zdd_v1_AgentInfo, AgentInfo__Output as _zdd_v1_AgentInfo__Output } from '../../zdd/v1/AgentInfo';

export interface ListAgentsResponse {
  'agents'?: (_zdd_v1_AgentInfo)[];
  'next_page_token'?: (string);
  'total'?: (number);
  'connected'?: (number);
}

export interface ListAgentsResponse__Output {
  'agents': (_zdd_v1_AgentInfo__Output)[];
  'next_page_token': (string);
  'total': (number);
  'connected': (number);
}
