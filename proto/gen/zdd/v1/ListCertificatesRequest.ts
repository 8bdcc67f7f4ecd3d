// Original file: proto/zdd/v1/control.proto


export interface ListCertificatesRequest {
}

export interface ListCertificatesRequest__Output {
}
