// Original file: proto/zdd/v1/control.proto


export interface GetServiceRequest {
  'name'?: (string);
}

export interface GetServiceRequest__Output {
  'name': (string);
}
