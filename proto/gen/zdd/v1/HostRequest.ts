// Original file: proto/zdd/v1/control.proto


export interface HostRequest {
  'name'?: (string);
}

export interface HostRequest__Output {
  'name': (string);
}
