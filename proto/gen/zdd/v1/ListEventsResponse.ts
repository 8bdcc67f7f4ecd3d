// Original file: proto/zdd/v1/control.proto

import type { Event as _zdd_v1_Event, Event__Output as _zdd_v1_Event__Output } from '../../zdd/v1/Event';

export interface ListEventsResponse {
  'events'?: (_zdd_v1_Event)[];
}

export interface ListEventsResponse__Output {
  'events': (_zdd_v1_Event__Output)[];
}
