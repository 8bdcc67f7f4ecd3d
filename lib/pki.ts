// The fleet's certificates: a CA that zdd makes and keeps itself, the coordinator's server
// certificate, and short-lived client certificates for agents and operators, each naming who it
// belongs to in a URI SAN (zdd://agent/web-1, zdd://operator/alice, zdd://coordinator).
// Certificates and CSRs are built with @peculiar/x509 on Node's WebCrypto; they are read back
// with node:crypto's X509Certificate. Keys are ECDSA P-256.
import crypto, { webcrypto } from 'node:crypto';
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ZddError } from './errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export { PRINCIPAL_NAME, identityOf, identityUri, normalizeFingerprint, type Identity, type PrincipalKind } from './identity.js';
import { identityOf, identityUri, type Identity } from './identity.js';

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

// node:tls wants each PEM block to end with a newline; the converter leaves it off
const pem = (label: string, der: ArrayBuffer) => `${x509.PemConverter.encode(der, label).trim()}\n`;
const certPem = (c: x509.X509Certificate) => `${c.toString('pem').trim()}\n`;

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(k: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', k));
}

async function importPrivateKey(keyPem: string): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), KEY_ALG, false, ['sign']);
}

/** sha256 of the certificate's DER, lower-case hex without colons: what --ca-sha256 pins and the journal keys certificates by */
export function fingerprint(certPem: string): string {
  return new crypto.X509Certificate(certPem).fingerprint256.replace(/:/g, '').toLowerCase();
}

const serial = () => crypto.randomBytes(16).toString('hex').replace(/^[89a-f]/, (c) => String(Number.parseInt(c, 16) - 8));

/** A new fleet CA: valid ten years, signs only certificates. */
export async function createCa(name = 'zdd fleet CA'): Promise<KeyAndCert> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3650 * DAY_MS),
    keys,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keyPem: await privateKeyPem(keys.privateKey), certPem: certPem(cert) };
}

export interface IssueOptions {
  identity: Identity;
  ttlMs: number;
  /** server certificates: the names and addresses clients dial */
  dns?: string[];
  ips?: string[];
}

async function sign(ca: KeyAndCert, publicKey: CryptoKey | x509.PublicKey, o: IssueOptions): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const server = o.identity.kind === 'coordinator';
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${o.identity.name}, OU=${o.identity.kind}`,
    issuer: caCert.subject,
    // a minute back: clocks of a fleet are not exactly together
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + o.ttlMs),
    publicKey,
    signingKey: await importPrivateKey(ca.keyPem),
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: identityUri(o.identity) },
        ...(o.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return certPem(cert);
}

/** A key made here and a certificate for it (the coordinator's own server certificate, the bootstrap admin). */
export async function issueWithNewKey(ca: KeyAndCert, o: IssueOptions): Promise<KeyAndCert> {
  const keys = await newKeys();
  return { keyPem: await privateKeyPem(keys.privateKey), certPem: await sign(ca, keys.publicKey, o) };
}

/** A certificate for the key of a CSR, after checking the CSR's signature (it holds the key). The CSR's own subject is ignored. */
export async function issueForCsr(ca: KeyAndCert, csrPem: string, o: IssueOptions): Promise<string> {
  if (csrPem.length > 16_384) throw new ZddError('INVALID_ARGUMENT', 'the certificate request is larger than 16 kB');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new ZddError('INVALID_ARGUMENT', 'the certificate request is not a PEM PKCS#10 CSR', { cause: err });
  }
  if (!(await csr.verify().catch(() => false))) throw new ZddError('INVALID_ARGUMENT', 'the certificate request is not signed by its own key');
  const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw new ZddError('INVALID_ARGUMENT', 'the certificate request must carry an ECDSA P-256 key');
  return sign(ca, csr.publicKey, o);
}

/** A new key and a CSR for it; the key stays with the caller. */
export async function createCsr(identity: Identity): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await newKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${identity.name}, OU=${identity.kind}`, keys, signingAlgorithm: SIGN_ALG });
  return { keyPem: await privateKeyPem(keys.privateKey), csrPem: `${csr.toString('pem').trim()}\n` };
}

export interface CertInfo {
  fingerprint: string;
  identity: Identity | undefined;
  notBeforeMs: number;
  notAfterMs: number;
}

/** What zdd reads from a certificate. */
export function certInfo(certPem: string): CertInfo {
  const c = new crypto.X509Certificate(certPem);
  return {
    fingerprint: c.fingerprint256.replace(/:/g, '').toLowerCase(),
    identity: identityOf(c.subjectAltName),
    notBeforeMs: Date.parse(c.validFrom),
    notAfterMs: Date.parse(c.validTo),
  };
}

/** True when `certPem` was signed by the CA in `caPem`. */
export function signedBy(certPem: string, caPem: string): boolean {
  const c = new crypto.X509Certificate(certPem);
  const ca = new crypto.X509Certificate(caPem);
  return c.checkIssued(ca) && c.verify(ca.publicKey);
}
