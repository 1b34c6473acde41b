/**
 * Security of the OPC UA server: the certificate store (node-opcua's PKI
 * layout under `<dataDir>/opcua/pki`), the endpoints it offers, and the user
 * name check. Clients are never trusted automatically: a client certificate
 * is accepted only once an operator has put it in `trusted/certs`.
 *
 *   <pkiDir>/own/certs/certificate.pem     the server's certificate, created on first start
 *   <pkiDir>/own/private/private_key.pem   its private key
 *   <pkiDir>/trusted/certs/                client certificates the operator trusts (DER or PEM)
 *   <pkiDir>/rejected/                     certificates of refused clients (move one to trusted/certs to accept it)
 *   <pkiDir>/issuers/certs/                CA certificates that issued client certificates
 *   <pkiDir>/trusted/crl/, issuers/crl/    revocation lists
 *   <pkiDir>/users/                        the same layout for X.509 user certificates (a user logging in with a
 *                                          certificate instead of a password: trusted only from users/trusted/certs)
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { MessageSecurityMode, OPCUACertificateManager, SecurityPolicy } from 'node-opcua';
import { opcuaExposureProblems, type OpcUaExposure, type OpcUaUser } from '../../config/opcua.ts';

/** Where the server's certificate store lives when `opcua.pkiDir` is not set. */
export function defaultPkiDir(dataDir: string): string {
  return join(dataDir, 'opcua', 'pki');
}

/** The server's certificate store; unknown client certificates land in `rejected/`, never in `trusted/`. */
export async function openCertificateStore(pkiDir: string): Promise<OPCUACertificateManager> {
  const manager = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: false });
  await manager.initialize();
  return manager;
}

/** The store of X.509 user identities (`<pkiDir>/users`); none is trusted automatically either. */
export async function openUserCertificateStore(pkiDir: string): Promise<OPCUACertificateManager> {
  return openCertificateStore(join(pkiDir, 'users'));
}

/** The security policies and modes the endpoints offer: Basic256Sha256 with Sign and SignAndEncrypt, and None only when allowed. */
export function endpointSecurity(allowSecurityNone: boolean): { securityPolicies: SecurityPolicy[]; securityModes: MessageSecurityMode[] } {
  const securityPolicies = [SecurityPolicy.Basic256Sha256];
  const securityModes = [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt];
  if (!allowSecurityNone) return { securityPolicies, securityModes };
  return { securityPolicies: [SecurityPolicy.None, ...securityPolicies], securityModes: [MessageSecurityMode.None, ...securityModes] };
}

/** Refuses to start a server that would let the network in without credentials or without security. */
export function assertExposureAllowed(settings: OpcUaExposure): void {
  const problems = opcuaExposureProblems(settings);
  if (problems.length > 0) throw new Error(problems.map((p) => `key "opcua.${p.key}": ${p.message}`).join('; '));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Checks a user name and password against the configured users in time that
 * does not depend on where they differ (every user is compared, digests are
 * compared with timingSafeEqual).
 */
export function passwordChecker(users: readonly OpcUaUser[]): (username: string, password: string) => boolean {
  const known = users.map((u) => ({ user: digest(u.username), password: digest(u.password) }));
  return (username, password) => {
    const user = digest(username);
    const pass = digest(password);
    let valid = false;
    for (const k of known) {
      const sameUser = timingSafeEqual(k.user, user);
      const samePassword = timingSafeEqual(k.password, pass);
      valid = (sameUser && samePassword) || valid;
    }
    return valid;
  };
}
