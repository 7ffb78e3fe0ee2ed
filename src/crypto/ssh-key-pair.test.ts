import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateOpenSshKeyPair } from './ssh-key-pair.js';

describe('ssh key pair generation', () => {
  it('every-generated-ed25519-pair-signs-and-verifies-through-its-public-line', () => {
    // ssh2 alone corrupts about 1 in 256; 600 pairs would hit that with 90% probability.
    for (let i = 0; i < 600; i++) {
      const pair = generateOpenSshKeyPair('ed25519');
      const pub = ssh2.utils.parseKey(pair.publicKey);
      const priv = ssh2.utils.parseKey(pair.privateKey);
      if (pub instanceof Error || priv instanceof Error) throw new Error('unparseable');
      const msg = Buffer.from(`message ${i}`);
      expect(pub.verify(msg, priv.sign(msg))).toBe(true);
    }
  });
});
