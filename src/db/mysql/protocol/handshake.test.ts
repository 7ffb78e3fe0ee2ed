import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  cachingSha2Scramble,
  clearPasswordOf,
  isCachingSha2ScrambleOf,
  nativePasswordScramble,
  newScramble,
  rsaDecryptPassword,
  rsaEncryptPassword,
} from './auth-scramble.js';
import { AuthPlugin, Capability } from './constants.js';
import {
  decodeAuthSwitchRequest,
  decodeHandshakeResponse41,
  decodeHandshakeV10,
  decodeSslRequest,
  encodeAuthSwitchRequest,
  encodeHandshakeResponse41,
  encodeHandshakeV10,
  encodeSslRequest,
  isSslRequest,
} from './handshake.js';
import { hex } from './testing/byte-builder.js';
import { PayloadWriter } from './wire.js';

const digest = (algo: string, ...parts: Buffer[]): Buffer =>
  parts.reduce((h, p) => h.update(p), createHash(algo)).digest();
const xorBytes = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ (b[i] ?? 0)));

const CLIENT_CAPS =
  Capability.LONG_PASSWORD |
  Capability.PROTOCOL_41 |
  Capability.SECURE_CONNECTION |
  Capability.PLUGIN_AUTH |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.CONNECT_WITH_DB |
  Capability.CONNECT_ATTRS |
  Capability.DEPRECATE_EOF;

describe('handshake v10', () => {
  it('round-trips-a-greeting-with-a-20-byte-scramble-and-plugin-name', () => {
    const scramble = newScramble();
    const caps = (CLIENT_CAPS | Capability.SSL) >>> 0;
    const bytes = encodeHandshakeV10({
      serverVersion: '8.0.36-gatehouse',
      connectionId: 42,
      authPluginData: scramble,
      capabilities: caps,
      charset: 45,
      statusFlags: 2,
      authPluginName: AuthPlugin.CACHING_SHA2,
    });
    // auth_plugin_data_len is 21 and part 2 is 12 bytes + NUL.
    const lenOffset = 1 + '8.0.36-gatehouse'.length + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2;
    expect(bytes.readUInt8(lenOffset)).toBe(21);
    const back = decodeHandshakeV10(bytes);
    expect(back).toMatchObject({
      serverVersion: '8.0.36-gatehouse',
      connectionId: 42,
      capabilities: caps,
      charset: 45,
      statusFlags: 2,
      authPluginName: 'caching_sha2_password',
    });
    expect(back.authPluginData.equals(scramble)).toBe(true);
    expect(back.mariadbCapabilities).toBeUndefined();
  });

  it('decodes-a-mariadb-greeting-with-the-5.5.5-prefix-and-extended-capabilities', () => {
    const payload = new PayloadWriter()
      .u8(10)
      .nulString('5.5.5-10.11.19-MariaDB')
      .u32(7)
      .bytes(Buffer.from('abcdefgh'))
      .u8(0)
      .u16(0xf7fe)
      .u8(45)
      .u16(2)
      .u16(0x81ff)
      .u8(21)
      .zeros(6)
      .u32(0x1d)
      .bytes(Buffer.from('ijklmnopqrst'))
      .u8(0)
      .nulString('mysql_native_password')
      .toBuffer();
    const h = decodeHandshakeV10(payload);
    expect(h.serverVersion).toBe('5.5.5-10.11.19-MariaDB');
    expect(h.authPluginData.toString()).toBe('abcdefghijklmnopqrst');
    expect(h.mariadbCapabilities).toBe(0x1d);
    expect(h.authPluginName).toBe('mysql_native_password');
  });

  it('refuses-protocol-version-9', () => {
    expect(() => decodeHandshakeV10(hex('09 00'))).toThrow(/protocol version 9/);
  });
});

describe('client responses', () => {
  it('tells-an-ssl-request-from-a-handshake-response', () => {
    const ssl = encodeSslRequest({
      capabilities: CLIENT_CAPS,
      maxPacketSize: 1 << 24,
      charset: 45,
    });
    expect(ssl.length).toBe(32);
    expect(isSslRequest(ssl)).toBe(true);
    expect(decodeSslRequest(ssl).charset).toBe(45);
    const full = encodeHandshakeResponse41({
      capabilities: CLIENT_CAPS | Capability.SSL,
      maxPacketSize: 1 << 24,
      charset: 45,
      username: 'alice#shop-db',
      authResponse: Buffer.alloc(32, 1),
    });
    expect(isSslRequest(full)).toBe(false);
  });

  it('round-trips-a-handshake-response-with-database-plugin-and-attributes', () => {
    const res = {
      capabilities: CLIENT_CAPS,
      maxPacketSize: 16_777_216,
      charset: 224,
      username: 'alice#shop-db',
      authResponse: Buffer.alloc(300, 7),
      database: 'shop',
      authPluginName: 'caching_sha2_password',
      attributes: [
        ['_client_name', 'libmariadb'],
        ['program_name', 'mysql'],
      ] as [string, string][],
    };
    expect(decodeHandshakeResponse41(encodeHandshakeResponse41(res))).toEqual(res);
  });

  it('decodes-a-response-with-a-one-byte-auth-length-and-no-plugin', () => {
    const caps = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION;
    const bytes = encodeHandshakeResponse41({
      capabilities: caps,
      maxPacketSize: 0,
      charset: 8,
      username: 'bob',
      authResponse: Buffer.from('xyz'),
    });
    expect(decodeHandshakeResponse41(bytes)).toEqual({
      capabilities: caps,
      maxPacketSize: 0,
      charset: 8,
      username: 'bob',
      authResponse: Buffer.from('xyz'),
    });
  });

  it('refuses-a-pre-4.1-client', () => {
    expect(() => decodeHandshakeResponse41(Buffer.alloc(40))).toThrow(/protocol 4.1/);
  });

  it('round-trips-an-auth-switch-request-without-the-trailing-nul', () => {
    const data = Buffer.from('01234567890123456789');
    const bytes = encodeAuthSwitchRequest({
      pluginName: 'caching_sha2_password',
      pluginData: data,
    });
    expect(bytes.readUInt8(0)).toBe(0xfe);
    expect(bytes.readUInt8(bytes.length - 1)).toBe(0);
    expect(decodeAuthSwitchRequest(bytes)).toEqual({
      pluginName: 'caching_sha2_password',
      pluginData: data,
    });
  });
});

describe('auth scrambles', () => {
  const nonce = Buffer.from('abcdefghijklmnopqrst');

  it('native-password-matches-the-reference-formula', () => {
    const ours = nativePasswordScramble(Buffer.from('s3cret-ü'), nonce);
    const pw = Buffer.from('s3cret-ü');
    const expected = xorBytes(
      digest('sha1', pw),
      digest('sha1', nonce, digest('sha1', digest('sha1', pw))),
    );
    expect(ours.equals(expected)).toBe(true);
    expect(nativePasswordScramble(Buffer.alloc(0), nonce).length).toBe(0);
  });

  it('caching-sha2-matches-the-reference-formula-and-verifies', () => {
    const ours = cachingSha2Scramble(Buffer.from('s3cret-ü'), nonce);
    const pw = Buffer.from('s3cret-ü');
    const expected = xorBytes(
      digest('sha256', pw),
      digest('sha256', digest('sha256', digest('sha256', pw)), nonce),
    );
    expect(ours.equals(expected)).toBe(true);
    expect(isCachingSha2ScrambleOf(ours, Buffer.from('s3cret-ü'), nonce)).toBe(true);
    expect(isCachingSha2ScrambleOf(ours, Buffer.from('other'), nonce)).toBe(false);
  });

  it('rsa-encrypted-password-decrypts-to-the-password', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const sealed = rsaEncryptPassword(
      Buffer.from('a much longer password than the nonce itself'),
      nonce,
      pem,
    );
    expect(rsaDecryptPassword(sealed, nonce, privateKey).toString()).toBe(
      'a much longer password than the nonce itself',
    );
  });

  it('clear-password-drops-the-nul-terminator', () => {
    expect(clearPasswordOf(Buffer.from('pw\0')).toString()).toBe('pw');
    expect(clearPasswordOf(Buffer.from('pw')).toString()).toBe('pw');
  });
});
