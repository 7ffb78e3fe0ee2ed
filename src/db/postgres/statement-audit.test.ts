import { describe, expect, it } from 'vitest';
import { rowsOfTag } from './statement-audit.js';

describe('statement audit', () => {
  it('command-tags-give-rows', () => {
    expect(rowsOfTag('SELECT 5')).toBe(5);
    expect(rowsOfTag('INSERT 0 3')).toBe(3);
    expect(rowsOfTag('COPY 100000')).toBe(100000);
    expect(rowsOfTag('CREATE TABLE')).toBeNull();
    expect(rowsOfTag('BEGIN')).toBeNull();
  });
});
