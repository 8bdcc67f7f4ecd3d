// Original file: proto/zdd/v1/control.proto

import type { Rollout as _zdd_v1_Rollout, Rollout__Output as _zdd_v1_Rollout__Output } from '../../zdd/v1/Rollout';

export interface ListRolloutsResponse {
  'rollouts'?: (_zdd_v1_Rollout)[];
}

export interface ListRolloutsResponse__Output {
  'rollouts': (_zdd_v1_Rollout__Output)[];
}
