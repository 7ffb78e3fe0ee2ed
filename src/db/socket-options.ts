/**
 * TCP options of every database socket, client side and target side: statements are small
 * and answered one by one, so no Nagle delay; keep-alive probes after 30 s idle find a peer
 * that vanished (a pooled connection may idle for hours).
 */
export const DB_SOCKET_OPTIONS = {
  noDelay: true,
  keepAlive: true,
  keepAliveInitialDelay: 30_000,
} as const;
