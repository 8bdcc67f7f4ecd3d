// Original file: proto/zdd/v1/agent.proto


export interface EnrollRequest {
  'token'?: (string);
  'csr_pem'?: (string);
}

export interface EnrollRequest__Output {
  'token': (string);
  'csr_pem': (string);
}
