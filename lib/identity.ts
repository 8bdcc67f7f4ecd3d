// Who a certificate names, read from its subjectAltName string as node:tls prints it. Kept apart
// from lib/pki.ts (which loads the X.509 library) so that checking a peer costs no such load:
// zddctl and the gRPC plumbing import only this.

export type PrincipalKind = 'agent' | 'operator' | 'coordinator';
export interface Identity {
  kind: PrincipalKind;
  name: string;
}

/** agent ids and operator names: what a certificate, a token and a Hello may carry */
export const PRINCIPAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const identityUri = (id: Identity) => (id.kind === 'coordinator' ? 'zdd://coordinator' : `zdd://${id.kind}/${id.name}`);

/** The identity in a certificate's subjectAltName string as node:tls prints it ("URI:zdd://agent/web-1, IP Address:…"). */
export function identityOf(subjectAltName: string | undefined): Identity | undefined {
  for (const part of (subjectAltName ?? '').split(/,\s*/)) {
    const m = /^URI:zdd:\/\/(?:(coordinator)|(agent|operator)\/([^/\s]+))$/.exec(part.trim());
    if (!m) continue;
    if (m[1]) return { kind: 'coordinator', name: 'coordinator' };
    if (PRINCIPAL_NAME.test(m[3])) return { kind: m[2] as PrincipalKind, name: m[3] };
  }
  return undefined;
}

/** Normalises a fingerprint an operator typed ("AB:CD:…", "sha256:abcd…"). */
export function normalizeFingerprint(s: string): string {
  return s.trim().replace(/^sha256:/i, '').replace(/:/g, '').toLowerCase();
}

