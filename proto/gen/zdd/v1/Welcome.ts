// Original file: proto/zdd/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface Welcome {
  'coordinator_version'?: (string);
  'heartbeat_ms'?: (number);
  'epoch'?: (number | string | Long);
  'acks_heartbeats'?: (boolean);
  'lease_ms'?: (number);
  'advertise'?: (string);
}

export interface Welcome__Output {
  'coordinator_version': (string);
  'heartbeat_ms': (number);
  'epoch': (number);
  'acks_heartbeats': (boolean);
  'lease_ms': (number);
  'advertise': (string);
}
