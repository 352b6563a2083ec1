// The public API calls of the study page's panels and actions (orders, MPPS, remote AEs,
// send/de-identification jobs, delete/restore, reconcile), with their types.
import { request } from "./api";

export interface OrderStep {
  scheduled_procedure_step_id: string;
  modality: string;
  scheduled_station_ae_title: string | null;
  scheduled_start_date: string;
  scheduled_start_time: string;
  jj1017_code: string | null;
}

export interface Order {
  accession_number: string;
  placer_order_number: string | null;
  filler_order_number: string;
  status: string;
  priority: string;
  patient_id: string;
  patient_name: string | null;
  steps: OrderStep[];
}

export interface PerformedStep {
  SOPInstanceUID: string;
  PerformedProcedureStepStatus: string;
  PerformedProcedureStepID: string | null;
  Modality: string | null;
  PerformedStationAETitle: string | null;
  start: string | null;
  end: string | null;
  performed_series_count: number;
}

export interface RemoteAE {
  ae_title: string;
  host: string;
  port: number;
  description: string;
}

export interface Job {
  id: number;
  kind: "send" | "retrieve" | "deidentify" | "patient-merge";
  state: "queued" | "running" | "done" | "failed" | "interrupted";
  total: number | null;
  completed: number;
  failed: number;
  reason: string | null;
}

export interface DeidPolicy {
  name: string;
  key: string;
}

const enc = encodeURIComponent;

export const studyApi = {
  order: (accession: string) => request<Order>("GET", `/api/orders/${enc(accession)}`),
  procedureSteps: (uid: string) => request<PerformedStep[]>("GET", `/api/studies/${enc(uid)}/procedure-steps`),
  remoteAes: () => request<RemoteAE[]>("GET", "/api/remote-aes"),
  send: (uid: string, ae: string) =>
    request<Job>("POST", "/api/jobs/send", { remote_ae_title: ae, studies: [uid] }),
  job: (id: number) => request<Job>("GET", `/api/jobs/${id}`),
  deidPolicies: () => request<DeidPolicy[]>("GET", "/api/deid-policies"),
  deidentify: (uid: string, policy: string) =>
    request<Job>("POST", "/api/deid-jobs", { studies: [uid], policy, output: "package" }),
  deidPackageUrl: (jobId: number) => `/api/deid-jobs/${jobId}/package`,
  zipUrl: (uid: string) => `/api/studies/${enc(uid)}/archive.zip`,
  remove: (uid: string) => request<unknown>("DELETE", `/api/studies/${enc(uid)}`),
  restore: (uid: string) => request<unknown>("POST", `/api/studies/${enc(uid)}/restore`),
  reconcile: (uid: string, accession: string, reason: string) =>
    request<{ AccessionNumber: string | null; order_status: string | null }>(
      "POST",
      `/api/studies/${enc(uid)}/reconcile`,
      { AccessionNumber: accession, reason },
    ),
};
