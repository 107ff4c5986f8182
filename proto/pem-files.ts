// PEM files for TLS, read and checked when the process starts, so a wrong path
// or a key that does not belong to its certificate fails with one line naming
// the file instead of an OpenSSL error at the first connection.
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export class TlsFileError extends Error {
  override name = 'TlsFileError';
}

/** A certificate with its private key, as grpc-js takes them. */
export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * One or more certificates (a chain, or a bundle of CAs). `label` names the file
 * in errors, e.g. "--ca /etc/rstscope/ca.crt".
 */
export function readCertificates(file: string, label = file): Buffer {
  const pem = readPem(file, label);
  const blocks = pem.toString('latin1').match(CERTIFICATE_BLOCK) ?? [];
  if (!blocks.length) {
    throw new TlsFileError(
      `${label}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)`,
    );
  }
  blocks.forEach((block, i) => parseCertificate(label, block, i));
  return pem;
}

/** A certificate chain and its private key; the key must belong to the first certificate. */
export function readKeyPair(
  certFile: string,
  keyFile: string,
  labels = { cert: certFile, key: keyFile },
): KeyPair {
  const cert = readCertificates(certFile, labels.cert);
  const key = readPem(keyFile, labels.key);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (err) {
    throw new TlsFileError(`${labels.key}: not a PEM private key (${reason(err)})`, { cause: err });
  }
  const first = parseCertificate(
    labels.cert,
    cert.toString('latin1').match(CERTIFICATE_BLOCK)![0],
    0,
  );
  if (!first.checkPrivateKey(keyObject)) {
    throw new TlsFileError(
      `${labels.key}: this key does not belong to the certificate in ${certFile}; pass the key it was issued for`,
    );
  }
  return { cert, key };
}

function readPem(file: string, label: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsFileError(`${label}: cannot read it (${reason(err)})`, { cause: err });
  }
}

function parseCertificate(label: string, block: string, index: number): X509Certificate {
  try {
    return new X509Certificate(block);
  } catch (err) {
    const which = index ? ` (certificate ${index + 1})` : '';
    throw new TlsFileError(`${label}${which}: not a valid certificate (${reason(err)})`, {
      cause: err,
    });
  }
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'a directory';
  if (e.code === 'ERR_MISSING_PASSPHRASE') return 'it is encrypted; decrypt it with openssl pkey';
  return (e.message ?? String(err)).split('\n', 1)[0]!;
}
