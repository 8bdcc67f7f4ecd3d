// Original file: proto/zdd/v1/agent.proto


export interface RenewRequest {
  'csr_pem'?: (string);
}

export interface RenewRequest__Output {
  'csr_pem': (string);
}
