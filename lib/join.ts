// Joining a fleet, for an agent (zdd-agent --join) and for an operator (zddctl login): fetch the
// fleet CA from the coordinator and pin it by the fingerprint the admin handed over, make a key
// here, and trade a one-time token and a CSR for a certificate over TLS that the pinned CA vouches
// for. The key never leaves this machine.
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ZddError, errorMessage } from './errors.js';
import { CLIENT_OPTIONS, fleetClientCredentials, fromServiceError, protos } from './grpc.js';
import { certInfo, createCsr, identityOf, normalizeFingerprint, signedBy, type PrincipalKind } from './pki.js';
import type { EnrollResponse__Output } from '../proto/gen/zdd/v1/EnrollResponse.js';

function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) throw new ZddError('INVALID_ARGUMENT', `coordinator address "${address}" is not HOST:PORT`);
  return { host: m[1], port: Number(m[2]) };
}

const derToPem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;

/**
 * The fleet CA as the coordinator presents it in its chain, accepted only if its sha256 is
 * `pinnedSha256` and it signed the coordinator's certificate. Nothing else about the connection is
 * trusted: it is closed as soon as the chain is read.
 */
export function fetchPinnedCa(address: string, pinnedSha256: string, timeoutMs = 10_000): Promise<string> {
  const pin = normalizeFingerprint(pinnedSha256);
  if (!/^[0-9a-f]{64}$/.test(pin)) {
    return Promise.reject(new ZddError('INVALID_ARGUMENT', '--ca-sha256 must be the 64-hex-digit sha256 of the fleet CA', { hint: 'zddctl token create prints it' }));
  }
  const { host, port } = splitAddress(address);
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], ...(net.isIP(host) ? {} : { servername: host }) });
    const timer = setTimeout(() => sock.destroy(new Error(`no TLS answer within ${timeoutMs}ms`)), timeoutMs);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      try {
        const leaf = sock.getPeerCertificate(true);
        const chain: tls.DetailedPeerCertificate[] = [];
        for (let c: tls.DetailedPeerCertificate | undefined = leaf; c?.raw && !chain.includes(c); c = c.issuerCertificate) chain.push(c);
        const ca = chain.find((c) => normalizeFingerprint(c.fingerprint256) === pin);
        if (!ca) {
          throw new ZddError('UNAUTHENTICATED', `the server at ${address} does not present a CA with sha256 ${pin}: it is not the coordinator you were told of, or the fingerprint is wrong`, {
            hint: 'check --ca-sha256 against what zddctl token create printed',
          });
        }
        const caPem = derToPem(ca.raw);
        const leafPem = derToPem(leaf.raw);
        if (!signedBy(leafPem, caPem) || identityOf(leaf.subjectaltname)?.kind !== 'coordinator') {
          throw new ZddError('UNAUTHENTICATED', `the server at ${address} presents the pinned CA but a certificate it did not sign for a coordinator`);
        }
        resolve(caPem);
      } catch (err) {
        reject(err);
      } finally {
        sock.destroy();
      }
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(new ZddError('AGENT_UNAVAILABLE', `cannot reach the coordinator at ${address} over TLS: ${errorMessage(err)}`, { cause: err, hint: 'check the address, and that the coordinator runs without --plaintext' }));
    });
  });
}

export interface Joined {
  caPem: string;
  keyPem: string;
  certPem: string;
  kind: PrincipalKind;
  name: string;
  role: string;
}

/** Fetches and pins the CA, makes a key and a CSR, and spends the token on a certificate. */
/**
 * Joins through the first coordinator of a comma-separated list that answers as the leader: a
 * standby refuses (NOT_LEADER) and names the leader, tried next. The token is spent only there.
 */
export async function join(addresses: string, token: string, caSha256: string, expect: 'agent' | 'operator'): Promise<Joined> {
  const queue = addresses.split(',').map((a) => a.trim()).filter(Boolean);
  const tried = new Set<string>();
  let last: unknown;
  for (let a = queue.shift(); a !== undefined; a = queue.shift()) {
    if (tried.has(a)) continue;
    tried.add(a);
    try {
      return await joinAt(a, token, caSha256, expect);
    } catch (err) {
      if (!(err instanceof ZddError) || (err.code !== 'NOT_LEADER' && err.code !== 'AGENT_UNAVAILABLE')) throw err;
      last = err;
      const leader = (err.cause as grpc.ServiceError | undefined)?.metadata?.get('zdd-leader')[0];
      if (typeof leader === 'string' && leader) queue.unshift(leader);
    }
  }
  throw last ?? new ZddError('INVALID_ARGUMENT', 'no coordinator address given');
}

async function joinAt(address: string, token: string, caSha256: string, expect: 'agent' | 'operator'): Promise<Joined> {
  const caPem = await fetchPinnedCa(address, caSha256);
  const { keyPem, csrPem } = await createCsr({ kind: expect, name: 'joining' });
  const { Enrollment } = protos().agent.zdd.v1;
  const client = new Enrollment(address, fleetClientCredentials({ caPem }), CLIENT_OPTIONS);
  try {
    const res = await new Promise<EnrollResponse__Output>((resolve, reject) =>
      client.Enroll({ token: token.trim(), csr_pem: csrPem }, { deadline: new Date(Date.now() + 15_000) }, (err: grpc.ServiceError | null, r?: EnrollResponse__Output) =>
        err ? reject(fromServiceError(err)) : resolve(r!),
      ),
    );
    if (res.kind !== expect) throw new ZddError('INVALID_ARGUMENT', `this token is for ${res.kind === 'agent' ? 'an agent' : 'an operator'} (${res.name}); it was spent, so ask for a new one of the right kind`);
    const info = certInfo(res.cert_pem);
    if (!signedBy(res.cert_pem, caPem) || info.identity?.kind !== expect || info.identity.name !== res.name) {
      throw new ZddError('UNAUTHENTICATED', 'the coordinator answered with a certificate the pinned CA did not issue for this identity');
    }
    return { caPem, keyPem, certPem: res.cert_pem, kind: expect, name: res.name, role: res.role };
  } finally {
    client.close();
  }
}
