// Original file: proto/zdd/v1/control.proto


export interface RolloutSummary {
  'steps'?: (number);
  'pending'?: (number);
  'running'?: (number);
  'done'?: (number);
  'failed'?: (number);
  'skipped'?: (number);
  'hosts'?: (number);
  'hosts_started'?: (number);
  'hosts_failed'?: (number);
  'batches'?: (number);
  'batches_done'?: (number);
  'current_batch'?: (number);
  'events'?: (number);
}

export interface RolloutSummary__Output {
  'steps': (number);
  'pending': (number);
  'running': (number);
  'done': (number);
  'failed': (number);
  'skipped': (number);
  'hosts': (number);
  'hosts_started': (number);
  'hosts_failed': (number);
  'batches': (number);
  'batches_done': (number);
  'current_batch': (number);
  'events': (number);
}
