import type { GatewayControl } from '../lease/gateway-control.js';

/** The control-plane calls a login makes while checking what its client sent. */
export type ProofChecks = Pick<
  GatewayControl,
  'isKeyAcceptable' | 'needsTotp' | 'authenticate' | 'startScram'
>;

/** Runs one check with the login deadline stopped ({@link Admission.whileChecking}). */
export type WhileChecking = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * The proof checks of `control`, each run by `whileChecking`: a listener's login deadline then
 * counts the client's time only, never the gateway's (on a saturated gateway a check can take
 * seconds). The time between SCRAM's two steps is the client's and still counts. The same for
 * every protocol: SSH keys and passwords, PostgreSQL SCRAM and cleartext, MySQL passwords.
 */
export function checkedWithin(
  control: ProofChecks,
  whileChecking: WhileChecking | undefined,
): ProofChecks {
  // A plain object either way, so that callers may spread it.
  const run: WhileChecking = whileChecking ?? ((work) => work());
  return {
    isKeyAcceptable: (user, key) => run(() => control.isKeyAcceptable(user, key)),
    needsTotp: (user) => run(() => control.needsTotp(user)),
    authenticate: (proof, ctx) => run(() => control.authenticate(proof, ctx)),
    startScram: async (user, ctx) => {
      const scram = await run(() => control.startScram(user, ctx));
      return {
        start: (clientFirst) => run(() => scram.start(clientFirst)),
        finish: (clientFinal) => run(() => scram.finish(clientFinal)),
      };
    },
  };
}
