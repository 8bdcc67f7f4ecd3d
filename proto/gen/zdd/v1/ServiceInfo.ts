// Original file: proto/zdd/v1/control.proto


export interface ServiceInfo {
  'name'?: (string);
  'revision'?: (number);
  'spec_json'?: (string);
  'live_version'?: (string);
  'changed'?: (boolean);
}

export interface ServiceInfo__Output {
  'name': (string);
  'revision': (number);
  'spec_json': (string);
  'live_version': (string);
  'changed': (boolean);
}
