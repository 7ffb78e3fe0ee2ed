import { X509Certificate } from 'node:crypto';
import { createServer, connect } from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createTlsMaterial } from './certificates.js';

describe('tls material', () => {
  it('server-certificate-verifies-against-the-ca-for-its-names', async () => {
    const tls = await createTlsMaterial({ names: ['localhost', '127.0.0.1'] });
    const ca = new X509Certificate(tls.ca.certPem);
    const server = new X509Certificate(tls.server.certPem);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(ca.ca).toBe(true);

    const srv = createServer({ cert: tls.server.certPem, key: tls.server.keyPem }, (s) =>
      s.end('hi'),
    );
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    const sock = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: tls.ca.certPem });
    const [data] = (await once(sock, 'data')) as [Buffer];
    expect(data.toString()).toBe('hi');
    expect(sock.authorized).toBe(true);
    sock.destroy();
    srv.close();
  });
});
