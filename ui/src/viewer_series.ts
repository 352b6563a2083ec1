// A series as a stack of image IDs for Cornerstone3D's WADO-RS loader: one image per frame
// (a multi-frame instance becomes one image per frame, so cine and scrolling treat a US/XA
// clip and a CT stack alike), ordered by Instance Number, with what the key-image list and
// the broken-instance message need to name each image.
import { wadors } from "@cornerstonejs/dicom-image-loader";
import { api } from "./api";

type Json = Record<string, { vr: string; Value?: unknown[] }>;

/** What names one displayed image (the key-image contract with the report editor). */
export interface ImageRef {
  series: string;
  sop: string;
  sopClass: string;
  /** The frame number (1-based) in a multi-frame instance; null for a single-frame one. */
  frame: number | null;
  instanceNumber: number;
}

export interface SeriesStack {
  imageIds: string[];
  refs: ImageRef[];
  /** Instance numbers the index lists but whose stored objects could not be read. */
  unreadable: number[];
  /** The acquisition's frame rate when the objects say it (Cine Rate, Frame Time). */
  fps: number | null;
}

const value = (md: Json, tag: string): unknown => md[tag]?.Value?.[0];
const num = (md: Json, tag: string): number => Number(value(md, tag) ?? 0);

/** Frames per second from Recommended Display Frame Rate, Cine Rate or Frame Time (ms). */
function frameRate(md: Json): number | null {
  const direct = num(md, "00082144") || num(md, "00180040");
  if (direct > 0) return direct;
  const frameTime = num(md, "00181063");
  return frameTime > 0 ? Math.round(1000 / frameTime) : null;
}

/**
 * The series' images, or the HTTP status of the metadata request when it failed.
 * Instances without pixel data (SR, KO, PR, encapsulated PDF) are left out.
 */
export async function seriesStack(study: string, series: string): Promise<SeriesStack | number> {
  const root = `${location.origin}/dicom-web`;
  const base = `${root}/studies/${study}/series/${series}`;
  const [response, indexed] = await Promise.all([
    fetch(`${base}/metadata`, {
      headers: { Accept: "application/dicom+json", "X-Requested-With": "XMLHttpRequest" },
      credentials: "same-origin",
    }),
    api.instances(study, series).catch(() => []),
  ]);
  if (!response.ok) return response.status;
  const all = (await response.json()) as Json[];
  const instances = all.filter((md) => num(md, "00280010") > 0);
  instances.sort((a, b) => num(a, "00200013") - num(b, "00200013"));
  const imageIds: string[] = [];
  const refs: ImageRef[] = [];
  let fps: number | null = null;
  for (const md of instances) {
    const sop = String(value(md, "00080018"));
    const sopClass = String(value(md, "00080016") ?? "");
    const frames = Math.max(1, num(md, "00280008"));
    const first = `wadors:${base}/instances/${sop}/frames/1`;
    // The loader derives frame n's metadata from frame 1's (multi-frame: per-frame groups).
    wadors.metaDataManager.add(first, md as never);
    for (let frame = 1; frame <= frames; frame++) {
      imageIds.push(frame === 1 ? first : `wadors:${base}/instances/${sop}/frames/${frame}`);
      refs.push({
        series,
        sop,
        sopClass,
        frame: frames > 1 ? frame : null,
        instanceNumber: num(md, "00200013"),
      });
    }
    fps ??= frames > 1 ? frameRate(md) : null;
  }
  // Instances the index lists but the metadata left out: their stored objects are unreadable.
  const inMetadata = new Set(all.map((md) => String(value(md, "00080018"))));
  const unreadable = indexed
    .filter((i) => !inMetadata.has(i.SOPInstanceUID))
    .map((i) => i.InstanceNumber ?? 0);
  return { imageIds, refs, unreadable, fps };
}
