// A throwaway self-signed certificate for TLS tests, made with the openssl command line.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCertificate {
  certPath: string;
  keyPath: string;
}

/** Writes a new key and certificate for `commonName` (into `dir`, or a new temporary directory). */
export function makeCertificate(commonName: string, dir = mkdtempSync(path.join(tmpdir(), 'mailerdash-tls-'))): TestCertificate {
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', `/CN=${commonName}`], { stdio: 'ignore' });
  return { certPath, keyPath };
}
