/**
 * Returns a `hold` function for one socket: while at least one hold is kept, the socket sends
 * small writes at once (TCP_NODELAY, Nagle's algorithm off); when the last is released, it
 * batches again. For terminal channels: a keystroke and its echo must not wait for an ACK,
 * while bulk channels keep Nagle's batching. OpenSSH turns it on for pty sessions too.
 * `hold` returns the release function; releasing twice counts once.
 */
export function noDelayWhileHeld(setNoDelay: (isOn: boolean) => void): () => () => void {
  let holds = 0;
  return () => {
    if (holds++ === 0) setNoDelay(true);
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      if (--holds === 0) setNoDelay(false);
    };
  };
}
