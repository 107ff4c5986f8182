// Host names as subject tokens: one token each, read back exactly, never shared.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agentsSubject, hostOfSubject, resetsSubject } from '../proto/nats-topology.js';

describe('host subjects', () => {
  it('keep the names agents allow as they always were', () => {
    expect(resetsSubject('node-1.example_a')).toBe('rstscope.v1.resets.node-1%2eexample_a');
  });

  it('read back any host exactly, one token, and never the same for two hosts', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1 }),
        fc.string({ minLength: 1 }),
        (a, b) => {
          const subject = resetsSubject(a);
          expect(subject.split('.')).toHaveLength(4);
          expect(subject).not.toMatch(/[\s*>]/);
          expect(hostOfSubject(subject)).toBe(a);
          expect(hostOfSubject(agentsSubject(a))).toBe(a);
          if (a !== b) expect(resetsSubject(b)).not.toBe(subject);
        },
      ),
      { seed: 7, numRuns: 2000 },
    );
  });

  it('codes above 0xff no longer collide with a byte and a digit', () => {
    expect(resetsSubject('\u0101')).not.toBe(resetsSubject('\u00101'));
  });
});
