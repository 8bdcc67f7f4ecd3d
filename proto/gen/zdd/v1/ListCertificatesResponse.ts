// Original file: proto/zdd/v1/control.proto

import type { CertificateInfo as _zdd_v1_CertificateInfo, CertificateInfo__Output as _zdd_v1_CertificateInfo__Output } from '../../zdd/v1/CertificateInfo';

export interface ListCertificatesResponse {
  'certificates'?: (_zdd_v1_CertificateInfo)[];
}

export interface ListCertificatesResponse__Output {
  'certificates': (_zdd_v1_CertificateInfo__Output)[];
}
