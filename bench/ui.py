"""Web application benchmark (issue 10): the viewer and the study browser in Debian's Chromium.

* **Viewer**: a ``--images`` CT series (512x512, 16 bit, uncompressed) opened in the viewer
  (Cornerstone3D over our WADO-RS, loopback): time to the first image drawn and until every
  image of the series is loaded (background prefetch), then the time per image of a keyboard
  scroll through the whole series. Targets: first image < 1 s, whole series < 5 s.
* **Study search**: the study browser's search by patient-name prefix (click to rows shown,
  median and p95 of ``--reps``) on an index of ``--studies`` one-image studies. Target
  < 300 ms. This loads its studies through C-STORE-equivalent ingest, so it stays small;
  the 100,000-study measurement (bulk-loaded index, REST search latency on SQLite and
  PostgreSQL, every typical search and sort) is ``bench/study_search.py``.

raddx runs in this process (uvicorn on a thread, SQLite in a temporary directory, security on:
a real user logs in). Needs node, ``make ui`` and ``/usr/bin/chromium``.

    .venv/bin/python bench/ui.py [--images 300] [--studies 2000] [--reps 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from raddx.config import load_settings
from raddx.security import load_policy, rules_from_settings
from raddx.security.accounts import create_user
from raddx.services import Services

REPO = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench-reader", "a long benchmark passphrase 1"
NAMES = ("YAMADA", "SATO", "SUZUKI", "TAKAHASHI", "TANAKA", "ITO", "WATANABE", "NAKAMURA")


def _part10(ds: Dataset) -> bytes:
    import io

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _image(study: str, series: str, number: int, *, name: str, pid: str, size: int) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName = pid, name
    ds.StudyDate, ds.Modality, ds.AccessionNumber = "20261126", "CT", pid
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel = 15, 0, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelSpacing = [0.7, 0.7]
    ds.ImagePositionPatient = [0, 0, number]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    row = bytes(range(256)) * (size * 2 // 256 or 1)
    ds.PixelData = (row[: size * 2]) * size
    return _part10(ds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    if not (REPO / "src/raddx/web/ui_dist/index.html").is_file():
        print("the web application is not built: make ui", file=sys.stderr)
        return 2

    import uvicorn

    from raddx.web import create_app

    with tempfile.TemporaryDirectory(prefix="raddx-bench-ui-") as tmp:
        services = Services.from_settings(load_settings(data_dir=Path(tmp) / "data"))
        with services.session_factory() as s, s.begin():
            create_user(
                session=s,
                name=USER,
                role="radiologist",
                password=PASSWORD,
                policy=load_policy(None),
                rules=rules_from_settings(services.settings).accounts,
            )
        t0 = time.perf_counter()
        study, series = generate_uid(), generate_uid()
        for n in range(1, args.images + 1):
            data = _image(study, series, n, name="BENCH^CT", pid="CT300", size=512)
            services.ingest.store(data, source="bench")
        for n in range(args.studies):
            name = f"{NAMES[n % len(NAMES)]}^{n:06d}"
            data = _image(generate_uid(), generate_uid(), 1, name=name, pid=f"P{n:06d}", size=8)
            services.ingest.store(data, source="bench")
        print(
            f"loaded {args.images} CT images + {args.studies} studies in "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
        server = uvicorn.Server(uvicorn.Config(create_app(services), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            done = subprocess.run(
                [
                    "node",
                    str(REPO / "ui/e2e/bench_viewer.mjs"),
                    f"http://{host}:{port}",
                    USER,
                    PASSWORD,
                    study,
                    series,
                    str(args.reps),
                    *(f"{n[:3]}*" for n in NAMES),
                ],
                capture_output=True,
                text=True,
                cwd=REPO / "ui",
                timeout=600,
                check=False,
            )
        finally:
            server.should_exit = True
            thread.join(timeout=20)
            services.close()
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        return 1
    result = json.loads(done.stdout.strip().splitlines()[-1])
    search = sorted(result["search_ms"])
    p95 = search[min(len(search) - 1, round(0.95 * (len(search) - 1)))]
    print(
        f"machine: {platform.machine()}, {platform.python_version()}, cores: "
        f"{len(__import__('os').sched_getaffinity(0))}"
    )
    rows = [
        (f"viewer: first image ({args.images}-image CT)", result["first_image_ms"], "< 1000 ms"),
        ("viewer: whole series loaded", result["full_series_ms"], "< 5000 ms"),
        ("viewer: keyboard scroll per image", result["scroll_ms_per_image"], ""),
        (f"study search ({args.studies} studies), median", statistics.median(search), "< 300 ms"),
        ("study search, p95", p95, ""),
    ]
    print("| measure | value | target |\n|---|---|---|")
    for label, value, target in rows:
        print(f"| {label} | {value:.1f} ms | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
