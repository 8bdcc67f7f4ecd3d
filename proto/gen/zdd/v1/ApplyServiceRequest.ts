// Original file: proto/zdd/v1/control.proto


export interface ApplyServiceRequest {
  'spec_json'?: (string);
}

export interface ApplyServiceRequest__Output {
  'spec_json': (string);
}
