// A series as a stack of image IDs for Cornerstone3D's WADO-RS loader: one image per frame
// (a multi-frame instance becomes one image per frame, so cine and scrolling treat a US/XA
// clip and a CT stack alike), ordered by Instance Number, with what the key-image list and
// the broken-instance message need to name each image.
import { wadors } from "@cornerstonejs/dicom-image-loader";
import { api, type Instance } from "./api";
import { SeriesStream } from "./viewer_bulk";

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

/** What /api/instances says of an instance (enough to find the middle image early). */
type Indexed = Instance & { SOPClassUID?: string | null; NumberOfFrames?: number | null; Rows?: number | null };

/** The image shown while the series' metadata is still on its way. */
export interface FirstImage {
  imageId: string;
  /** Its place in the series and the series' image count, as the index counts them. */
  index: number;
  count: number;
}

export interface OpenedSeries {
  /** The middle image, from the index and one instance's metadata; null if that failed. */
  first: Promise<FirstImage | null>;
  /** Every image, from the series' metadata; or the HTTP status when that failed. */
  full: Promise<SeriesStack | number>;
  /** The series' objects in one stream, for every image but the first. */
  stream: SeriesStream;
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

const metadata = (url: string) =>
  fetch(url, {
    headers: { Accept: "application/dicom+json", "X-Requested-With": "XMLHttpRequest" },
    credentials: "same-origin",
  });

/**
 * Open a series: its middle image as soon as the index and that one instance's metadata
 * answer (the series' metadata of a 300-image CT takes the server a second or two to build,
 * one instance's a few milliseconds), and the whole stack when the series' metadata is in.
 */
export function openSeries(study: string, series: string): OpenedSeries {
  const base = `${location.origin}/dicom-web/studies/${study}/series/${series}`;
  const indexed = api.instances(study, series).catch(() => [] as Instance[]) as Promise<Indexed[]>;
  const first = indexed.then(async (list) => {
    const images = list
      .filter((i) => (i.Rows ?? 0) > 0)
      .sort((a, b) => (a.InstanceNumber ?? 0) - (b.InstanceNumber ?? 0));
    const count = images.reduce((n, i) => n + Math.max(1, i.NumberOfFrames ?? 1), 0);
    let index = Math.floor(count / 2);
    for (const i of images) {
      const frames = Math.max(1, i.NumberOfFrames ?? 1);
      if (index >= frames) {
        index -= frames;
        continue;
      }
      const response = await metadata(`${base}/instances/${i.SOPInstanceUID}/metadata`);
      if (!response.ok) return null;
      const [md] = (await response.json()) as Json[];
      const firstFrame = `wadors:${base}/instances/${i.SOPInstanceUID}/frames/1`;
      wadors.metaDataManager.add(firstFrame, md as never);
      const imageId = index === 0 ? firstFrame : `wadors:${base}/instances/${i.SOPInstanceUID}/frames/${index + 1}`;
      return { imageId, index: Math.floor(count / 2), count };
    }
    return null;
  }).catch(() => null); // no early image: the whole series' metadata decides
  return { first, full: seriesStack(base, series, indexed), stream: new SeriesStream(base) };
}

/**
 * The series' images, or the HTTP status of the metadata request when it failed.
 * Instances without pixel data (SR, KO, PR, encapsulated PDF) are left out.
 */
async function seriesStack(base: string, series: string, listed: Promise<Indexed[]>): Promise<SeriesStack | number> {
  const [response, indexed] = await Promise.all([metadata(`${base}/metadata`), listed]);
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
