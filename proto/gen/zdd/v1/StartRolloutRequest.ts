// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface StartRolloutRequest {
  'service'?: (string);
  'version'?: (string);
  'strategy'?: (string);
  'batch'?: (string);
  'pause_ms'?: (number);
  'failure_limit'?: (number);
  'steps'?: (string);
  'step_pause_ms'?: (number | string | Long);
  'canary_hosts'?: (string);
  'keep_old_ms'?: (number | string | Long);
  'bake_ms'?: (number | string | Long);
  'hosts'?: (string);
  'analysis_json'?: (string);
  'artifact'?: (string);
  'sha256'?: (string);
  'stage_concurrency'?: (number);
  'in_place'?: (boolean);
  'max_load'?: (number);
  'options'?: ({[key: string]: string});
  'plan_first_batch'?: (number);
  'plan_batches'?: (number);
}

export interface StartRolloutRequest__Output {
  'service': (string);
  'version': (string);
  'strategy': (string);
  'batch': (string);
  'pause_ms': (number);
  'failure_limit': (number);
  'steps': (string);
  'step_pause_ms': (number);
  'canary_hosts': (string);
  'keep_old_ms': (number);
  'bake_ms': (number);
  'hosts': (string);
  'analysis_json': (string);
  'artifact': (string);
  'sha256': (string);
  'stage_concurrency': (number);
  'in_place': (boolean);
  'max_load': (number);
  'options': ({[key: string]: string});
  'plan_first_batch': (number);
  'plan_batches': (number);
}
