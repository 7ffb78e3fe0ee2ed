import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { GatehouseError, toGatehouseError } from '../../core/errors.js';
import { systemClock } from '../../core/clock.js';
import type { WebDeps } from '../deps.js';
import { CastTail } from '../live-tail.js';
import { can } from '../permissions.js';
import { sendProblem } from '../problem.js';
import { findRecordings, recordingPath } from '../recording-files.js';
import { getSessionRow } from '../session-queries.js';
import { isSameOrigin, type WebAuth } from '../web-auth.js';

/** The WebSocket subprotocol asciinema-player speaks for asciicast v3 streams. */
export const LIVE_PROTOCOL = 'v3.asciicast';
/** Path of the live view; `?channel=N` picks the channel (default the lowest). */
export const LIVE_PATH = '/api/sessions/:sid/live';
const SID_RE = /^[A-Za-z0-9_-]{1,128}$/;

interface LiveRequest {
  Params: { sid: string };
  Querystring: { channel?: string };
}

/**
 * The live view of a running terminal session: a WebSocket streaming the growing recording
 * in asciinema-player's `v3.asciicast` protocol. Checked before the upgrade: same origin
 * (cross-site WebSocket hijacking), a signed-in caller, and the right to read the session.
 */
export function registerLiveRoute(app: FastifyInstance, deps: WebDeps, auth: WebAuth): void {
  const db = deps.store.db;
  const clock = deps.clock ?? systemClock;
  const root = deps.config.recordings.dir;
  app.get<LiveRequest>(
    LIVE_PATH,
    {
      websocket: true,
      preValidation: async (request: FastifyRequest<LiveRequest>, reply: FastifyReply) => {
        try {
          if (!isSameOrigin(request, { requireOrigin: true }))
            throw new GatehouseError('GH_CSRF_REJECTED', {
              detail: `websocket origin ${request.headers.origin ?? '(none)'}`,
            });
          const principal = await auth.principalOf(request);
          if (!SID_RE.test(request.params.sid))
            throw new GatehouseError('GH_INVALID_ARGUMENT', { message: 'invalid session id' });
          const row = await getSessionRow(db, request.params.sid);
          if (!can(principal, 'sessions.read') && row.user_name !== principal.user.name) {
            throw new GatehouseError('GH_NOT_FOUND', {
              message: `session ${row.sid} does not exist`,
            });
          }
        } catch (err) {
          await sendProblem(reply, toGatehouseError(err));
        }
      },
    },
    (socket: WebSocket, request: FastifyRequest<LiveRequest>) => {
      void follow(socket, request).catch((err: unknown) => {
        deps.logger.warn(
          { err: err instanceof Error ? err.message : String(err), sid: request.params.sid },
          'live view failed',
        );
        socket.close(1011, 'live view failed');
      });
    },
  );

  async function follow(socket: WebSocket, request: FastifyRequest<LiveRequest>): Promise<void> {
    if (socket.protocol !== LIVE_PROTOCOL) {
      socket.close(1002, `use the ${LIVE_PROTOCOL} subprotocol`);
      return;
    }
    const row = await getSessionRow(db, request.params.sid);
    const wanted = request.query.channel === undefined ? undefined : Number(request.query.channel);
    // A shell channel may open a moment after the session: wait a few seconds for its file.
    const deadline = clock() + 5_000;
    let ref = undefined;
    for (;;) {
      const refs = await findRecordings(root, row, clock());
      ref = wanted === undefined ? refs[0] : refs.find((r) => r.channel === wanted);
      if (ref !== undefined || clock() > deadline || socket.readyState !== socket.OPEN) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (ref === undefined) {
      socket.close(1000, 'no recording for this session');
      return;
    }
    const tail = new CastTail(
      recordingPath(root, ref.relPath),
      {
        send: (line) => {
          if (socket.readyState === socket.OPEN) socket.send(line);
        },
        close: (code, reason) => socket.close(code, reason),
      },
      {
        isLive: async () => (await getSessionRow(db, row.sid)).status === 'active',
      },
    );
    socket.on('close', () => void tail.stop());
    await tail.start();
  }
}
