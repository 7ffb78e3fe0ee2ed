import { describe, expect, it } from 'vitest';
import { BoundedMap } from './bounded-map.js';

describe('bounded map', () => {
  it('forgets-the-oldest-past-its-count-or-size', () => {
    const map = new BoundedMap<string, string>({
      maxEntries: 3,
      maxBytes: 10,
      sizeOf: (v) => v.length,
    });
    for (const k of ['a', 'b', 'c', 'd']) map.set(k, 'x');
    expect([map.get('a'), map.get('d'), map.size]).toEqual([undefined, 'x', 3]);
    map.set('big', 'y'.repeat(9));
    expect([map.get('b'), map.get('c'), map.get('d'), map.size, map.bytes]).toEqual([
      undefined,
      undefined,
      'x',
      2,
      10,
    ]);
    // A value larger than the limit is still kept: it is the one just set.
    map.set('huge', 'z'.repeat(50));
    expect(map.get('huge')).toBe('z'.repeat(50));
  });

  it('setting-again-refreshes-and-delete-frees', () => {
    const map = new BoundedMap<string, string>({
      maxEntries: 2,
      maxBytes: 100,
      sizeOf: (v) => v.length,
    });
    map.set('a', '1');
    map.set('b', '2');
    map.set('a', '3');
    map.set('c', '4');
    expect([map.get('a'), map.get('b'), map.get('c')]).toEqual(['3', undefined, '4']);
    map.delete('a');
    expect(map.bytes).toBe(1);
  });
});
