// The agent's place in the fleet: the pinned fleet CA and its own key and certificate, in
// STATE_DIR/tls (0600). Made once by joining (lib/join.ts); renewed over the session when a third
// of the certificate's life is left, the new key and certificate replacing the old in one rename.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ZddError } from '../lib/errors.js';
import { certInfo, createCsr, signedBy, type CertInfo } from '../lib/pki.js';
import { writeFileAtomic } from '../lib/fs-atomic.js';

export interface AgentCredentials {
  caPem: string;
  keyPem: string;
  certPem: string;
}

const KEY_BLOCK = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/;
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/;

export class AgentIdentity {
  private creds: AgentCredentials;
  private info: CertInfo;
  /** the key of a renewal asked for and not yet answered */
  private pendingKey: string | undefined;

  private constructor(private readonly dir: string, creds: AgentCredentials) {
    this.creds = creds;
    this.info = certInfo(creds.certPem);
  }

  static files(stateDir: string) {
    const dir = path.join(stateDir, 'tls');
    return { dir, ca: path.join(dir, 'ca.crt'), identity: path.join(dir, 'agent.pem') };
  }

  /** The credentials this agent already holds, or undefined if it has not joined yet. */
  static load(stateDir: string): AgentIdentity | undefined {
    const f = AgentIdentity.files(stateDir);
    if (!fs.existsSync(f.identity)) return undefined;
    const both = fs.readFileSync(f.identity, 'utf8');
    const keyPem = KEY_BLOCK.exec(both)?.[0];
    const certPem = CERT_BLOCK.exec(both)?.[0];
    if (!keyPem || !certPem || !fs.existsSync(f.ca)) {
      throw new ZddError('INVALID_ARGUMENT', `${f.identity} is damaged or ${f.ca} is missing`, { hint: `remove ${f.dir} and join again with a new token` });
    }
    return new AgentIdentity(f.dir, { caPem: fs.readFileSync(f.ca, 'utf8'), keyPem, certPem });
  }

  /** Writes what joining returned. */
  static save(stateDir: string, creds: AgentCredentials): AgentIdentity {
    const f = AgentIdentity.files(stateDir);
    fs.mkdirSync(f.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(f.ca, creds.caPem, 0o600);
    writeFileAtomic(f.identity, creds.keyPem + creds.certPem, 0o600);
    return new AgentIdentity(f.dir, creds);
  }

  get credentials(): AgentCredentials {
    return this.creds;
  }

  get name(): string {
    return this.info.identity?.name ?? '';
  }

  get caSha256(): string {
    return certInfo(this.creds.caPem).fingerprint;
  }

  get notAfterMs(): number {
    return this.info.notAfterMs;
  }

  get lifetimeMs(): number {
    return this.info.notAfterMs - this.info.notBeforeMs;
  }

  /** When a third of the certificate's life is left. */
  renewAtMs(): number {
    return this.info.notAfterMs - (this.info.notAfterMs - this.info.notBeforeMs) / 3;
  }

  /** A CSR for a new key; the key is kept until the certificate for it arrives. */
  async renewalRequest(): Promise<string> {
    const { keyPem, csrPem } = await createCsr({ kind: 'agent', name: this.name });
    this.pendingKey = keyPem;
    return csrPem;
  }

  /** Takes a renewed certificate if it is ours: the fleet CA's, our identity, our pending key. */
  accept(certPem: string): void {
    const key = this.pendingKey;
    if (!key) throw new ZddError('INVALID_ARGUMENT', 'a certificate arrived that this agent did not ask for');
    const info = certInfo(certPem);
    const pub = (k: crypto.KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('hex');
    if (!signedBy(certPem, this.creds.caPem) || info.identity?.kind !== 'agent' || info.identity.name !== this.name || pub(new crypto.X509Certificate(certPem).publicKey) !== pub(crypto.createPublicKey(key))) {
      throw new ZddError('UNAUTHENTICATED', 'the renewed certificate is not for this agent\'s new key under the pinned CA');
    }
    writeFileAtomic(path.join(this.dir, 'agent.pem'), key + certPem, 0o600);
    this.creds = { ...this.creds, keyPem: key, certPem };
    this.info = info;
    this.pendingKey = undefined;
  }
}
