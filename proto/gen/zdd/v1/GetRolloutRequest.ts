// Original file: proto/zdd/v1/control.proto

import type { Long } from '@grpc/proto-loader';

export interface GetRolloutRequest {
  'id'?: (string);
  'steps_after'?: (number);
  'max_steps'?: (number);
  'events_after'?: (number | string | Long);
  'max_events'?: (number);
  'summary_only'?: (boolean);
}

export interface GetRolloutRequest__Output {
  'id': (string);
  'steps_after': (number);
  'max_steps': (number);
  'events_after': (number);
  'max_events': (number);
  'summary_only': (boolean);
}
