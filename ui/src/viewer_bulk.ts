// A whole series in one WADO-RS request (Retrieve Series, PS3.18 10.4.1.1.2: multipart of
// Part 10 instances as stored), feeding the images Cornerstone asks for. One request per
// frame costs the server a request's whole round (session, routing, index query, audit) 300
// times for a 300-image CT, and the browser queues them six at a time: ~6 s here, where the
// series in one stream takes under one. The per-frame WADO-RS path stays: the first image
// uses it (it is wanted before the stream reaches it), and any image the stream cannot give
// (compressed, multi-frame, a part that does not end in its pixel data, a failed stream)
// falls back to it.
import { metaData, registerImageLoader, type Types } from "@cornerstonejs/core";
import { createImage, wadors } from "@cornerstonejs/dicom-image-loader";

interface Part {
  bytes: Uint8Array;
  transferSyntax: string;
}

/** Native little-endian syntaxes: pixel data is the value's bytes as they are. */
const NATIVE = new Set(["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]);
const EXPLICIT = "1.2.840.10008.1.2.1";

/** One series' stream: parts by SOP Instance UID as they arrive. */
export class SeriesStream {
  private parts = new Map<string, Part>();
  private waiting = new Map<string, ((part: Part | null) => void)[]>();
  private done = false;
  private readonly abort = new AbortController();

  private started = false;

  constructor(readonly base: string) {}

  /** Start reading (after the first image: the stream would otherwise delay it). */
  start(): void {
    if (this.started || this.done) return;
    this.started = true;
    void this.read().catch(() => undefined).finally(() => this.finish());
  }

  /** The instance's part when it has come (null if the stream ended without it). */
  part(sop: string): Promise<Part | null> {
    const found = this.parts.get(sop);
    if (found) {
      this.parts.delete(sop); // handed over once: the image cache keeps the pixels
      return Promise.resolve(found);
    }
    if (this.done) return Promise.resolve(null);
    return new Promise((resolve) => {
      const list = this.waiting.get(sop) ?? [];
      list.push(resolve);
      this.waiting.set(sop, list);
    });
  }

  close(): void {
    this.abort.abort();
    this.parts.clear();
    this.finish();
  }

  private finish(): void {
    this.done = true;
    for (const list of this.waiting.values()) for (const resolve of list) resolve(null);
    this.waiting.clear();
  }

  private arrived(bytes: Uint8Array, contentType: string): void {
    const meta = fileMeta(bytes);
    if (!meta) return;
    const syntax = /transfer-syntax=([0-9.]+)/.exec(contentType)?.[1] ?? meta.transferSyntax;
    const part = { bytes, transferSyntax: syntax };
    const list = this.waiting.get(meta.sop);
    if (list) {
      this.waiting.delete(meta.sop);
      for (const resolve of list) resolve(part);
    } else {
      this.parts.set(meta.sop, part);
    }
  }

  private async read(): Promise<void> {
    const response = await fetch(this.base, {
      headers: {
        Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
        "X-Requested-With": "XMLHttpRequest",
      },
      credentials: "same-origin",
      signal: this.abort.signal,
    });
    const boundary = /boundary="?([^";]+)"?/.exec(response.headers.get("content-type") ?? "")?.[1];
    if (!response.ok || !response.body || !boundary) return;
    const delimiter = new TextEncoder().encode(`\r\n--${boundary}`);
    const reader = response.body.getReader();
    // Received bytes not yet cut into parts, in a buffer that grows by doubling: each byte is
    // copied in once (and once more into its part), not again with every chunk.
    let store = new Uint8Array(1 << 20);
    let used = 0;
    let start = -1; // where the current part's headers begin
    let searched = 0; // the delimiter is not before this (already searched)
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (used + value.length > store.length) {
        const grown = new Uint8Array(Math.max(store.length * 2, used + value.length));
        grown.set(store.subarray(0, used));
        store = grown;
      }
      searched = Math.max(0, used - delimiter.length);
      store.set(value, used);
      used += value.length;
      const buffer = store.subarray(0, used);
      if (start < 0) {
        // the opening delimiter has no CRLF before it
        const first = find(buffer, delimiter.subarray(2), 0);
        if (first < 0) continue;
        start = first + delimiter.length - 2 + 2; // past "--boundary\r\n"
      }
      for (;;) {
        const end = find(buffer, delimiter, Math.max(start, searched));
        if (end < 0) break;
        const headersEnd = find(buffer, CRLF2, start);
        if (headersEnd >= 0 && headersEnd < end) {
          const headers = new TextDecoder().decode(buffer.subarray(start, headersEnd));
          // its own copy: the store is reused
          this.arrived(buffer.slice(headersEnd + 4, end), headers);
        }
        start = end + delimiter.length + 2; // past "\r\n--boundary\r\n" (or "--" at the end)
      }
      // keep only what follows the last part cut out
      const keep = Math.min(start, used);
      store.copyWithin(0, keep, used);
      used -= keep;
      searched = Math.max(0, searched - keep);
      start -= keep;
    }
  }
}

const CRLF2 = new Uint8Array([13, 10, 13, 10]);

/** The first index of ``needle`` in ``hay`` from ``from`` (native indexOf for the first byte). */
function find(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  for (let i = hay.indexOf(first, from); i >= 0 && i + needle.length <= hay.length; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/** SOP Instance UID and transfer syntax from the File Meta Information (PS3.10 7.1; it is
 * always explicit VR little endian). */
export function fileMeta(bytes: Uint8Array): { sop: string; transferSyntax: string } | null {
  if (bytes.length < 144 || String.fromCharCode(...bytes.subarray(128, 132)) !== "DICM") return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let sop = "";
  let transferSyntax = "";
  for (let p = 132; p + 8 <= bytes.length && view.getUint16(p, true) === 0x0002; ) {
    const element = view.getUint16(p + 2, true);
    const vr = String.fromCharCode(bytes[p + 4], bytes[p + 5]);
    const long = ["OB", "OW", "UN", "SQ", "UT", "UC", "UR"].includes(vr);
    const length = long ? view.getUint32(p + 8, true) : view.getUint16(p + 6, true);
    const at = p + (long ? 12 : 8);
    const text = () => new TextDecoder().decode(bytes.subarray(at, at + length)).replace(/[\0 ]+$/, "");
    if (element === 0x0003) sop = text();
    if (element === 0x0010) transferSyntax = text();
    p = at + length;
  }
  return sop ? { sop, transferSyntax } : null;
}

/**
 * The pixel data of a single-frame native instance: the last element of the file, of the
 * length the metadata says (Rows × Columns × Samples per Pixel × Bits Allocated / 8, padded
 * to even). Null when the file does not end that way (then the frame is fetched instead).
 */
export function nativePixels(part: Part, rows: number, columns: number, samples: number, bits: number): Uint8Array | null {
  if (!NATIVE.has(part.transferSyntax) || bits % 8 !== 0) return null;
  const length = (rows * columns * samples * bits) / 8;
  const padded = length + (length % 2);
  const { bytes } = part;
  const header = part.transferSyntax === EXPLICIT ? 12 : 8;
  const p = bytes.length - padded - header;
  if (p < 132) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(p, true) !== 0x7fe0 || view.getUint16(p + 2, true) !== 0x0010) return null;
  if (view.getUint32(p + header - 4, true) !== padded) return null;
  return bytes.subarray(p + header, p + header + length);
}

const streams = new Map<string, SeriesStream>();

/** Images of the series at ``base`` are taken from ``stream`` from now on. */
export function useStream(stream: SeriesStream): () => void {
  streams.set(stream.base, stream);
  stream.start();
  return () => {
    if (streams.get(stream.base) === stream) streams.delete(stream.base);
    stream.close();
  };
}

type LoadOptions = Record<string, unknown>;

/** The ``wadors:`` loader: from a series stream when one is open for the image's series,
 * else (and on any doubt) Cornerstone's own per-frame WADO-RS loader. */
function load(imageId: string, options: LoadOptions = {}): Types.IImageLoadObject {
  const stock = () => wadors.loadImage(imageId, options as never) as unknown as Types.IImageLoadObject;
  const match = /^wadors:(.*)\/instances\/([^/]+)\/frames\/1$/.exec(imageId);
  const stream = match ? streams.get(match[1]) : undefined;
  if (!match || !stream) return stock();
  const promise = (async () => {
    const pixel = metaData.get("imagePixelModule", imageId) as
      | { rows: number; columns: number; samplesPerPixel: number; bitsAllocated: number }
      | undefined;
    const frames = Number((metaData.get("multiframeModule", imageId) as { NumberOfFrames?: number } | undefined)?.NumberOfFrames ?? 1);
    const part = pixel && frames <= 1 ? await stream.part(match[2]) : null;
    const bytes = part && nativePixels(part, pixel!.rows, pixel!.columns, pixel!.samplesPerPixel, pixel!.bitsAllocated);
    if (!part || !bytes) return stock().promise;
    return createImage(imageId, bytes as never, part.transferSyntax, options as never) as unknown as Promise<Types.IImage>;
  })();
  return { promise } as Types.IImageLoadObject;
}

let registered = false;
/** Put the stream-aware loader in place of the stock ``wadors:`` one (after its init). */
export function registerStreamLoader(): void {
  if (registered) return;
  registerImageLoader("wadors", load as never);
  registered = true;
}
