// The administration pages' calls to the public REST API (/api/auth, /api/remote-aes,
// /api/hl7, /api/system, /api/statistics, /api/jobs, /api/audit, /healthz) and their types.
// Every call goes through api.ts's `request` (session cookie + X-Requested-With).
import { request, type Page } from "./api";

export interface User {
  name: string;
  role: string;
  disabled: boolean;
  locked_until: string | null;
  totp_enrolled: boolean;
  created_at: string;
  /** DICOM PN with groups, e.g. Tanaka^Taro=田中^太郎=たなか^たろう; null: the login name. */
  display_name: string | null;
}

export interface Role {
  name: string;
  description: string;
  permissions: string[];
}

export interface Token {
  name: string;
  role: string;
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
}

export interface TokenCreated {
  name: string;
  role: string;
  token: string;
}

export interface Enrolment {
  secret: string;
  otpauth_uri: string;
  /** The otpauth URI as a QR code: a PNG data: URI (made by the server with segno). */
  qr: string;
}

export interface RemoteAE {
  ae_title: string;
  host: string;
  port: number;
  description: string;
  source: "config" | "runtime";
}

export interface Echo {
  ae_title: string;
  success: boolean;
  status: number | null;
  round_trip_ms: number | null;
  reason: string;
}

export interface HL7Destination {
  name: string;
  host: string;
  port: number;
  messages: string[];
  charset: string;
  receiving_application: string;
  receiving_facility: string;
  tls: boolean;
}

export interface OutboxEntry {
  id: number;
  event: string;
  action: string;
  subject: string;
  destination: string | null;
  status: string;
  attempts: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
  next_attempt_at: string;
}

export interface SystemStatus {
  ok: boolean;
  version: string;
  server_time: string;
  ae_title: string;
  database: { ok: boolean; dialect: string; error: string | null };
  storage: {
    path: string;
    ok: boolean;
    writable: boolean;
    total_bytes: number | null;
    used_bytes: number | null;
    free_bytes: number | null;
    error: string | null;
  };
  jobs: Record<string, number>;
  outbox: { pending: number; failed: number; oldest_pending_at: string | null };
  ports: Record<string, number>;
  workers: Record<string, "running" | "stopped">;
  security_enforced: boolean;
  audit_enabled: boolean;
}

export interface Statistics {
  patients: number;
  studies: number;
  series: number;
  instances: number;
  stored_bytes: number;
  deleted_instances: number;
  deleted_bytes: number;
}

export interface Job {
  id: number;
  kind: string;
  state: string;
  remote_ae_title: string;
  total: number | null;
  completed: number;
  failed: number;
  reason: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface AuditRecord {
  seq: number;
  event_time: string;
  event_id: string;
  event_action_code: string;
  event_outcome_indicator: number;
  user_id: string | null;
  patient_id: string | null;
  source_id: string;
  xml: string | null;
}

const enc = encodeURIComponent;

function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

export const adminApi = {
  users: () => request<User[]>("GET", "/api/auth/users"),
  roles: () => request<Role[]>("GET", "/api/auth/roles"),
  addUser: (name: string, role: string, password: string, displayName = "") =>
    request<User>("POST", "/api/auth/users", { name, role, password, display_name: displayName || null }),
  setDisplayName: (name: string, displayName: string) =>
    request<User>("PUT", `/api/auth/users/${enc(name)}/display-name`, { display_name: displayName || null }),
  userAction: (name: string, action: "disable" | "enable" | "unlock" | "reset-2fa") =>
    request<User>("POST", `/api/auth/users/${enc(name)}/${action}`),
  setRole: (name: string, role: string) =>
    request<User>("POST", `/api/auth/users/${enc(name)}/role`, { role }),
  tokens: () => request<Token[]>("GET", "/api/auth/tokens"),
  addToken: (name: string, role: string) =>
    request<TokenCreated>("POST", "/api/auth/tokens", { name, role }),
  revokeToken: (name: string) => request<void>("POST", `/api/auth/tokens/${enc(name)}/revoke`),

  enrol: () => request<Enrolment>("POST", "/api/auth/2fa/enrol"),
  confirm: (code: string) =>
    request<{ recovery_codes: string[] }>("POST", "/api/auth/2fa/confirm", { code }),
  changePassword: (current: string, next: string) =>
    request<void>("POST", "/api/auth/password", { current, new: next }),

  remoteAes: () => request<RemoteAE[]>("GET", "/api/remote-aes"),
  addRemoteAe: (ae: { ae_title: string; host: string; port: number; description: string }) =>
    request<RemoteAE>("POST", "/api/remote-aes", ae),
  removeRemoteAe: (title: string) => request<RemoteAE>("DELETE", `/api/remote-aes/${enc(title)}`),
  echo: (title: string) => request<Echo>("POST", `/api/remote-aes/${enc(title)}/echo`),

  hl7Destinations: () => request<HL7Destination[]>("GET", "/api/hl7/destinations"),
  outbox: (status: string, limit: number, offset: number) =>
    request<OutboxEntry[]>("GET", `/api/hl7/outbox${query({ status, limit, offset })}`),
  retryOutbox: (id: number) => request<OutboxEntry>("POST", `/api/hl7/outbox/${id}/retry`),

  status: () => request<SystemStatus>("GET", "/api/system/status"),
  statistics: () => request<Statistics>("GET", "/api/statistics"),
  jobs: (limit: number) => request<Job[]>("GET", `/api/jobs${query({ limit })}`),
  health: async () => {
    // /healthz answers 503 with the same body when something is broken: read it either way.
    const response = await fetch("/healthz", { headers: { Accept: "application/json" } });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  },

  audit: (filters: Record<string, string>, limit: number, offset: number) =>
    request<Page<AuditRecord>>("GET", `/api/audit${query({ ...filters, limit, offset })}`),
};
