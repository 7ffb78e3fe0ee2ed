import { webcrypto, X509Certificate } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** PEM-encoded certificate and private key. */
export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A CA and a server certificate it signed, all PEM. */
export interface TlsMaterial {
  readonly ca: PemPair;
  readonly server: PemPair;
}

/** Options for {@link createTlsMaterial}. */
export interface TlsMaterialOptions {
  /** DNS names and IP addresses the server certificate is valid for. */
  readonly names: readonly string[];
  readonly caValidDays?: number;
  readonly serverValidDays?: number;
}

/** Makes a private CA and a server certificate (ECDSA P-256) for the given names. */
export async function createTlsMaterial(options: TlsMaterialOptions): Promise<TlsMaterial> {
  const now = Date.now();
  const caKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=Gatehouse CA',
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + (options.caValidDays ?? 3650) * DAY_MS),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const serverCert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${options.names[0] ?? 'gatehouse'}`,
    issuer: caCert.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + (options.serverValidDays ?? 825) * DAY_MS),
    signingAlgorithm: ALG,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(options.names.map(toGeneralName)),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return {
    ca: { certPem: caCert.toString('pem'), keyPem: await exportKeyPem(caKeys.privateKey) },
    server: {
      certPem: serverCert.toString('pem'),
      keyPem: await exportKeyPem(serverKeys.privateKey),
    },
  };
}

/** SHA-256 fingerprint of a PEM certificate, as colon-separated hex (like openssl). */
export function certificateFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

function toGeneralName(name: string): { type: 'ip' | 'dns'; value: string } {
  return /^[\d.]+$/.test(name) || name.includes(':')
    ? { type: 'ip', value: name }
    : { type: 'dns', value: name };
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64.trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}
