import { describe, expect, it } from 'vitest';
import { parseBenchOptions } from '../bench/lib/options.js';

// The database sizes can be set apart from the mode (e.g. 32 clients in a quick run).
describe('bench options', () => {
  it('db-clients-and-db-seconds-override-the-modes-sizes', () => {
    const options = parseBenchOptions(['--quick', '--db-clients', '8,32', '--db-seconds', '15']);
    expect(options.sizes.dbClients).toEqual([8, 32]);
    expect(options.sizes.dbSeconds).toBe(15);
    expect(parseBenchOptions(['--quick']).sizes.dbClients).toEqual([8]);
  });

  it('split-cpus-is-off-unless-asked-for', () => {
    expect(parseBenchOptions(['--quick']).splitCpus).toBe(false);
    expect(parseBenchOptions(['--quick', '--split-cpus']).splitCpus).toBe(true);
  });

  it('db-clients-takes-only-positive-whole-numbers', () => {
    expect(() => parseBenchOptions(['--db-clients', '8,x'])).toThrow(/positive whole number/);
  });
});
