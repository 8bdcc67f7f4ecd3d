// Original file: proto/zdd/v1/agent.proto

import type { Welcome as _zdd_v1_Welcome, Welcome__Output as _zdd_v1_Welcome__Output } from '../../zdd/v1/Welcome';
import type { Command as _zdd_v1_Command, Command__Output as _zdd_v1_Command__Output } from '../../zdd/v1/Command';
import type { Certificate as _zdd_v1_Certificate, Certificate__Output as _zdd_v1_Certificate__Output } from '../../zdd/v1/Certificate';
import type { HeartbeatAck as _zdd_v1_HeartbeatAck, HeartbeatAck__Output as _zdd_v1_HeartbeatAck__Output } from '../../zdd/v1/HeartbeatAck';

export interface CoordinatorMessage {
  'welcome'?: (_zdd_v1_Welcome | null);
  'command'?: (_zdd_v1_Command | null);
  'certificate'?: (_zdd_v1_Certificate | null);
  'heartbeat_ack'?: (_zdd_v1_HeartbeatAck | null);
  'body'?: "welcome"|"command"|"certificate"|"heartbeat_ack";
}

export interface CoordinatorMessage__Output {
  'welcome'?: (_zdd_v1_Welcome__Output | null);
  'command'?: (_zdd_v1_Command__Output | null);
  'certificate'?: (_zdd_v1_Certificate__Output | null);
  'heartbeat_ack'?: (_zdd_v1_HeartbeatAck__Output | null);
  'body'?: "welcome"|"command"|"certificate"|"heartbeat_ack";
}
