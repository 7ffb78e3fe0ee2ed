import { describe, expect, it } from 'vitest';
import { isGatehouseError, namingTarget } from './errors.js';
import {
  connectTimeoutMsOf,
  DEFAULT_TARGET_CONNECT_TIMEOUT_MS,
  upstreamTimeoutError,
} from './target-connect.js';

describe('target connect timeout', () => {
  it('the-connect-timeout-label-is-seconds-and-absent-means-the-default', () => {
    expect(connectTimeoutMsOf({ name: 'web-1', labels: {} })).toBe(
      DEFAULT_TARGET_CONNECT_TIMEOUT_MS,
    );
    expect(connectTimeoutMsOf({ name: 'web-1', labels: { connect_timeout: '3' } })).toBe(3000);
    expect(connectTimeoutMsOf({ name: 'web-1', labels: { connect_timeout: '300' } })).toBe(300_000);
  });

  it('a-bad-connect-timeout-label-is-refused-naming-it', () => {
    for (const bad of ['0', '301', '-1', '2.5', 'ten', '', '1e3']) {
      let err: unknown;
      try {
        connectTimeoutMsOf({ name: 'web-1', labels: { connect_timeout: bad } });
      } catch (e) {
        err = e;
      }
      expect(isGatehouseError(err, 'GH_UPSTREAM_UNREACHABLE')).toBe(true);
      expect((err as { detail?: string }).detail).toContain('label connect_timeout=');
    }
  });

  it('a-timeout-names-the-target-and-the-time-allowed-but-not-the-address', () => {
    const err = namingTarget(
      upstreamTimeoutError('10.0.0.7:22', 3000, 'no session after 3000 ms'),
      'web-1',
    );
    expect(err.message).toBe('target "web-1" did not answer within 3 s');
    expect(err.toPublic().hint).toContain('may be down or out of reach');
    expect(JSON.stringify(err.toPublic())).not.toContain('10.0.0.7');
    expect(err.detail).toContain('10.0.0.7:22');
  });
});
