// Original file: proto/zdd/v1/control.proto

import type { Step as _zdd_v1_Step, Step__Output as _zdd_v1_Step__Output } from '../../zdd/v1/Step';
import type { Event as _zdd_v1_Event, Event__Output as _zdd_v1_Event__Output } from '../../zdd/v1/Event';
import type { RolloutSummary as _zdd_v1_RolloutSummary, RolloutSummary__Output as _zdd_v1_RolloutSummary__Output } from '../../zdd/v1/RolloutSummary';
import type { Long } from '@grpc/proto-loader';

export interface Rollout {
  'id'?: (string);
  'service'?: (string);
  'version'?: (string);
  'from_version'?: (string);
  'strategy'?: (string);
  'state'?: (string);
  'error'?: (string);
  'created_at_ms'?: (number | string | Long);
  'ended_at_ms'?: (number | string | Long);
  'batches'?: (number);
  'forced_kills'?: (number);
  'failed_hosts'?: (number);
  'params_json'?: (string);
  'steps'?: (_zdd_v1_Step)[];
  'events'?: (_zdd_v1_Event)[];
  'resumed_at_ms'?: (number | string | Long)[];
  'pause_reason'?: (string);
  'traffic_json'?: (string);
  'analysis_json'?: (string);
  'waiting'?: (string);
  'status'?: (string);
  'created_by'?: (string);
  'summary'?: (_zdd_v1_RolloutSummary | null);
  'next_step'?: (number);
  'notable'?: (_zdd_v1_Step)[];
  'delta'?: (boolean);
}

export interface Rollout__Output {
  'id': (string);
  'service': (string);
  'version': (string);
  'from_version': (string);
  'strategy': (string);
  'state': (string);
  'error': (string);
  'created_at_ms': (number);
  'ended_at_ms': (number);
  'batches': (number);
  'forced_kills': (number);
  'failed_hosts': (number);
  'params_json': (string);
  'steps': (_zdd_v1_Step__Output)[];
  'events': (_zdd_v1_Event__Output)[];
  'resumed_at_ms': (number)[];
  'pause_reason': (string);
  'traffic_json': (string);
  'analysis_json': (string);
  'waiting': (string);
  'status': (string);
  'created_by': (string);
  'summary': (_zdd_v1_RolloutSummary__Output | null);
  'next_step': (number);
  'notable': (_zdd_v1_Step__Output)[];
  'delta': (boolean);
}
