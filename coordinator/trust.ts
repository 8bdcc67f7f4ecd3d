// Who may do what: the fleet CA in the coordinator's PKI directory, join tokens, certificates and
// their revocation, and the caller of every gRPC call. An agent is who its certificate says; an
// operator's role (viewer < deployer < admin) is the one recorded when its certificate was issued.
// Without TLS (--plaintext, loopback or --insecure only) every caller is the "plaintext" admin.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isIP } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../lib/log.js';
import { ZddError } from '../lib/errors.js';
import { fleetServerCredentials, peerCertificate } from '../lib/grpc.js';
import { PRINCIPAL_NAME, certInfo, createCa, fingerprint, identityOf, issueForCsr, issueWithNewKey, type Identity, type KeyAndCert } from '../lib/pki.js';
import { usableToken, type CertificateRow, type PrincipalKind, type Role, type Store } from './store.js';
import { writeClientConfig } from '../lib/client-config.js';
import { readIfExists as readIf, writeFileAtomic } from '../lib/fs-atomic.js';

export const ROLES: readonly Role[] = ['viewer', 'deployer', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, deployer: 1, admin: 2 };

export interface Principal {
  kind: PrincipalKind;
  name: string;
  role: Role | '';
  /** "operator/alice", "agent/web-1", or "plaintext" */
  label: string;
  fingerprint: string;
  notAfterMs: number;
}

/** The caller of every call when the coordinator serves plaintext: there is no one to tell apart. */
export const PLAINTEXT_PRINCIPAL: Principal = Object.freeze({ kind: 'operator', name: 'plaintext', role: 'admin', label: 'plaintext', fingerprint: '', notAfterMs: 0 });

export const DAY_MS = 86_400_000;

export interface TrustConfig {
  /** the PKI directory: ca.key, ca.crt, admin.json (all 0600) */
  dir: string;
  /** the address the coordinator listens on; its host goes into the server certificate */
  listen: string;
  /** more names or addresses clients dial (a DNS name, a load balancer's address) */
  sans: string[];
  agentCertTtlMs: number;
  operatorCertTtlMs: number;
}

const TOKEN = /^zdd1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;
const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

/** The names and addresses the server certificate carries: the listen host, or every local address when it listens on all. */
function serverNames(listen: string, extra: string[]): { dns: string[]; ips: string[] } {
  const host = listen.startsWith('[') ? listen.slice(1, listen.indexOf(']')) : listen.replace(/:\d+$/, '');
  const ips = new Set<string>(['127.0.0.1', '::1']);
  const dns = new Set<string>(['localhost', os.hostname()]);
  if (host === '0.0.0.0' || host === '::' || host === '') {
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) ips.add(a.address.replace(/%.*$/, ''));
  } else if (isIP(host)) ips.add(host);
  else dns.add(host);
  for (const n of extra) (isIP(n) ? ips : dns).add(n);
  return { dns: [...dns], ips: [...ips] };
}

export class FleetTrust {
  /** the fleet CA's sha256, what joining sides pin */
  readonly caSha256: string;

  private constructor(
    private readonly cfg: TrustConfig,
    private readonly ca: KeyAndCert,
    private readonly server: KeyAndCert,
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    this.caSha256 = fingerprint(ca.certPem);
  }

  /**
   * Loads the fleet CA from the PKI directory, or creates it on the first start, and issues the
   * coordinator's server certificate for the addresses it listens on (afresh at every start).
   */
  static async open(cfg: TrustConfig, store: Store, log: Logger): Promise<FleetTrust> {
    fs.mkdirSync(cfg.dir, { recursive: true, mode: 0o700 });
    // an existing directory keeps its mode otherwise: the CA's key is in it
    fs.chmodSync(cfg.dir, 0o700);
    const keyFile = path.join(cfg.dir, 'ca.key');
    const certFile = path.join(cfg.dir, 'ca.crt');
    let ca: KeyAndCert;
    const key = readIf(keyFile);
    const cert = readIf(certFile);
    if (key && cert) ca = { keyPem: key, certPem: cert };
    else if (key || cert) {
      throw new ZddError('INVALID_ARGUMENT', `${cfg.dir} holds ${key ? 'ca.key' : 'ca.crt'} without ${key ? 'ca.crt' : 'ca.key'}`, {
        hint: 'restore the missing file from a backup; only remove both to start a new fleet CA (every agent and operator must then join again)',
      });
    } else {
      ca = await createCa();
      writeFileAtomic(keyFile, ca.keyPem, 0o600);
      writeFileAtomic(certFile, ca.certPem, 0o600);
      log.info({ dir: cfg.dir, caSha256: fingerprint(ca.certPem) }, 'fleet CA created');
    }
    // kept in memory only: a new one at every start, for the addresses of that start
    const server = await issueWithNewKey(ca, { identity: { kind: 'coordinator', name: 'coordinator' }, ttlMs: 365 * DAY_MS, ...serverNames(cfg.listen, cfg.sans) });
    return new FleetTrust(cfg, ca, server, store, log);
  }

  get caPem(): string {
    return this.ca.certPem;
  }

  /** The coordinator's certificate and the fleet CA, for a TLS listener of its own (metrics). */
  httpsOptions(): { key: string; cert: string; ca: string } {
    return { key: this.server.keyPem, cert: this.server.certPem, ca: this.ca.certPem };
  }

  credentials(): grpc.ServerCredentials {
    return fleetServerCredentials({ caPem: this.ca.certPem, keyPem: this.server.keyPem, certPem: this.server.certPem });
  }

  /**
   * The operator config of the local admin (PKI_DIR/admin.json): written on the first start, and
   * again when it is missing or expires within a week. Whoever can read it can do anything.
   */
  async ensureBootstrapAdmin(address: string): Promise<string> {
    const file = path.join(this.cfg.dir, 'admin.json');
    try {
      const cur = JSON.parse(fs.readFileSync(file, 'utf8')) as { certPem: string; caPem: string; coordinator: string };
      const info = certInfo(cur.certPem);
      const row = this.store.certificate(info.fingerprint);
      if (cur.caPem === this.ca.certPem && cur.coordinator === address && row && !row.revokedMs && info.notAfterMs - Date.now() > 7 * DAY_MS) return file;
    } catch {
      /* missing or unreadable: written anew */
    }
    const identity: Identity = { kind: 'operator', name: 'admin' };
    const kc = await issueWithNewKey(this.ca, { identity, ttlMs: 365 * DAY_MS });
    this.record(kc.certPem, identity, 'admin');
    writeClientConfig(file, { coordinator: address, caPem: this.ca.certPem, certPem: kc.certPem, keyPem: kc.keyPem, principal: 'operator/admin', role: 'admin' });
    this.log.info({ file }, 'bootstrap admin credentials written');
    return file;
  }

  private ttlFor(kind: PrincipalKind): number {
    return kind === 'agent' ? this.cfg.agentCertTtlMs : this.cfg.operatorCertTtlMs;
  }

  /** The journal's row of a certificate just issued. */
  private rowFor(certPem: string, identity: Identity, role: Role | ''): CertificateRow {
    const info = certInfo(certPem);
    return { fingerprint: info.fingerprint, kind: identity.kind as PrincipalKind, name: identity.name, role, issuedMs: Date.now(), notAfterMs: info.notAfterMs, revokedMs: 0 };
  }

  private record(certPem: string, identity: Identity, role: Role | ''): CertificateRow {
    const row = this.rowFor(certPem, identity, role);
    this.store.addCertificate(row);
    return row;
  }

  /** A one-time join token for an agent id or an operator; only its hash is stored. */
  createToken(by: Principal, kind: PrincipalKind, name: string, role: Role | '', ttlMs: number): { token: string; expiresMs: number } {
    if (kind !== 'agent' && kind !== 'operator') throw new ZddError('INVALID_ARGUMENT', `a token is for an agent or an operator, not "${String(kind).slice(0, 40)}"`);
    if (!PRINCIPAL_NAME.test(name)) throw new ZddError('INVALID_ARGUMENT', `"${name.slice(0, 140)}" is not a valid ${kind} name (letters, digits, ".", "_", "-"; at most 128)`);
    if (kind === 'operator' && !ROLES.includes(role as Role)) throw new ZddError('INVALID_ARGUMENT', `an operator needs a role: ${ROLES.join(', ')}`);
    if (kind === 'agent' && role) throw new ZddError('INVALID_ARGUMENT', 'an agent has no role');
    if (ttlMs < 1000 || ttlMs > 7 * DAY_MS) throw new ZddError('INVALID_ARGUMENT', 'a join token lives from 1s to 7d', { hint: 'for example --ttl 1h' });
    const id = crypto.randomBytes(8).toString('hex');
    const secret = crypto.randomBytes(32).toString('base64url');
    const now = Date.now();
    this.store.addJoinToken({ id, secretSha256: sha256(secret), kind, name, role, createdMs: now, expiresMs: now + ttlMs, usedMs: 0, createdBy: by.label });
    return { token: `zdd1.${id}.${secret}`, expiresMs: now + ttlMs };
  }

  /** Spends a join token on a CSR: the certificate names the token's identity, whatever the CSR says. */
  async enroll(token: string, csrPem: string): Promise<{ certPem: string; row: CertificateRow }> {
    const m = TOKEN.exec(token.trim());
    if (!m) throw new ZddError('UNAUTHENTICATED', 'join token refused: it is not a zdd join token (zdd1.…)', { hint: 'copy it whole from zddctl token create' });
    const [, id, secret] = m;
    // signed first (async), then recorded with the token spent in one transaction that checks it
    // again: a token spent meanwhile costs a signature, nothing more
    const t = usableToken(this.store.joinToken(id), sha256(secret), Date.now());
    const identity: Identity = { kind: t.kind, name: t.name };
    const certPem = await issueForCsr(this.ca, csrPem, { identity, ttlMs: this.ttlFor(t.kind) });
    const row = this.store.redeemJoinToken(id, sha256(secret), Date.now(), (r) => this.rowFor(certPem, { kind: r.kind, name: r.name }, r.role));
    this.log.info({ principal: `${row.kind}/${row.name}`, role: row.role || undefined }, 'joined the fleet');
    return { certPem, row };
  }

  /** Throws UNAUTHENTICATED if the principal's certificate was revoked (or expired) since its session began. */
  recheck(p: Principal): void {
    const row = this.store.certificate(p.fingerprint);
    if (!row) throw new ZddError('UNAUTHENTICATED', `the certificate of ${p.label} is no longer on record`);
    inStanding(row);
  }

  /**
   * A fresh certificate for a connected agent's new key (renewal over its session). Only once its
   * current certificate is past half its life: a session cannot mint certificates at will.
   */
  async renew(p: Principal, csrPem: string): Promise<{ certPem: string; notAfterMs: number; fingerprint: string }> {
    const ttlMs = this.ttlFor(p.kind);
    this.recheck(p);
    // one renewal per certificate: a session on a superseded one cannot mint more
    if (this.store.latestCertificate(p.kind, p.name)?.fingerprint !== p.fingerprint) {
      throw new ZddError('INVALID_ARGUMENT', `the certificate of ${p.label} was renewed already; reconnect with the renewed one`);
    }
    if (p.notAfterMs - Date.now() > ttlMs / 2) throw new ZddError('INVALID_ARGUMENT', `the certificate of ${p.label} is not yet half way through its life; renew later`);
    const identity: Identity = { kind: p.kind, name: p.name };
    const certPem = await issueForCsr(this.ca, csrPem, { identity, ttlMs });
    // revoked while the certificate was being signed: nothing is recorded or handed out
    this.recheck(p);
    const row = this.record(certPem, identity, p.role);
    this.log.info({ principal: p.label, notAfter: new Date(row.notAfterMs).toISOString() }, 'certificate renewed');
    return { certPem, notAfterMs: row.notAfterMs, fingerprint: row.fingerprint };
  }

  /**
   * The caller of a call, from its client certificate. node:tls has already checked the chain to
   * the fleet CA and the dates; here: the identity it names, and that it is on record and not revoked.
   */
  authenticate(call: object): Principal {
    const peer = peerCertificate(call as never);
    if (!peer) {
      throw new ZddError('UNAUTHENTICATED', 'no valid client certificate: this coordinator accepts only certificates of its fleet CA that have not expired', {
        hint: 'operators: zddctl login with a token from zddctl operator create; agents: zdd-agent --join TOKEN --ca-sha256 FINGERPRINT',
      });
    }
    const fp = peer.fingerprint256.replace(/:/g, '').toLowerCase();
    const identity = identityOf(peer.subjectaltname);
    const row = this.store.certificate(fp);
    if (!identity || identity.kind === 'coordinator' || !row || row.kind !== identity.kind || row.name !== identity.name) {
      throw new ZddError('UNAUTHENTICATED', 'this certificate was not issued to an agent or operator by this coordinator', { hint: 'join again with a new token' });
    }
    inStanding(row);
    return { kind: row.kind as PrincipalKind, name: row.name, role: row.role, label: `${row.kind}/${row.name}`, fingerprint: fp, notAfterMs: row.notAfterMs };
  }
}

/**
 * Throws UNAUTHENTICATED for a revoked or expired certificate. node checks the dates at the
 * handshake; a resumed TLS session, or a session that outlives its certificate, is checked here.
 */
function inStanding(row: CertificateRow): void {
  if (row.revokedMs) {
    throw new ZddError('UNAUTHENTICATED', `the certificate of ${row.kind} ${row.name} was revoked at ${new Date(row.revokedMs).toISOString()}`, {
      hint: 'an admin can let it join again with a new token: zddctl token create',
    });
  }
  if (row.notAfterMs <= Date.now()) throw new ZddError('UNAUTHENTICATED', `the certificate of ${row.kind} ${row.name} has expired`, { hint: 'join again with a new token' });
}

/** Refuses a principal below `need` (agents hold no role: they never pass). */
export function requireRole(p: Principal, need: Role, action: string): void {
  if (p.kind !== 'operator' || !p.role) {
    throw new ZddError('PERMISSION_DENIED', `${p.label} is an agent; the control API is for operators`, { hint: 'use an operator credential (zddctl login)' });
  }
  if (RANK[p.role] < RANK[need]) {
    throw new ZddError('PERMISSION_DENIED', `${p.label} is a ${p.role}; ${action} needs ${need}`, { hint: `ask an admin, or use a credential with the ${need} role` });
  }
}
