import { describe, expect, it } from 'vitest';
import { chunkSizes } from './chain.js';

describe('chunkSizes', () => {
  it.each([
    [1, [1]],
    [7, [4, 2, 1]],
    [256, [256]],
    [300, [256, 32, 8, 4]],
    [1000, [256, 256, 256, 128, 64, 32, 8]],
  ])('a-batch-of-%i-goes-in-as-a-few-fixed-sizes', (total, sizes) => {
    expect(chunkSizes(total)).toEqual(sizes);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
  });
});
