import type { RunningGatehouse } from '../../test/support/gatehouse.js';

/** Stops and starts Gatehouse again on the same setup (a fresh process for memory figures). */
export async function restartGatehouse(gatehouse: RunningGatehouse): Promise<void> {
  await gatehouse.stop();
  await gatehouse.restart();
}
