/** Shapes of the API answers the console reads (see /api/openapi.json). */

export interface SessionInfo {
  sid: string;
  user: string;
  target: string;
  kind: string;
  status: string;
  gatewayId: string;
  clientAddr: string | null;
  startedAt: number;
  endedAt: number | null;
  recordingSha256: string | null;
  meta: Record<string, unknown>;
}

export interface AuditEvent {
  seq: number;
  time: number;
  type: string;
  user: string | null;
  sid: string | null;
  target: string | null;
  gateway: string | null;
  clientAddr: string | null;
  data: Record<string, unknown>;
  hash: string;
}

export interface SessionDetail {
  session: SessionInfo;
  recordings: { channel: number; relPath: string }[];
  commands: { seq: number; time: number; type: string; channel: number | null; command: string }[];
  transfers: AuditEvent[];
  events: AuditEvent[];
  hasTranscript: boolean;
}

export interface AccessTarget {
  name: string;
  kind: string;
  database: string | null;
  labels: Record<string, string>;
  expiresAt: number | null;
  commands: { label: string; command: string }[];
}
