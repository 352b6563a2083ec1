"""Security controls benchmark (issue 9): what authorisation and the audit trail cost.

Target: at most 10 % overhead with the controls on, and audit writes never blocking the
request path for more than 1 ms median (``bench/audit.py`` measures ``record()`` itself).

Method: ``raddx serve`` on empty storage inside a private network namespace (``unshare -n``,
as the other benches), alternately with the controls **on** (the defaults: every HTTP request
authenticated with an API token and authorised, every access audited) and **off**
(``RADDX_SECURITY_ENFORCED=false``, ``RADDX_AUDIT_ENABLED=false``, settings that exist for
this comparison only), ``--rounds`` times each, same data:

* **C-STORE**: ``--instances`` small Secondary Capture objects in ``--studies`` studies, one
  ``storescu`` association; instances/s (the DICOM door: peer allow-list check, one audit
  event per study).
* **QIDO-RS**: ``/dicom-web/studies?PatientID=…`` latency over ``--reps`` requests on one
  keep-alive httpx client, with ``Authorization: Bearer <token>`` when the controls are on.

Run as root from the repository::

    .venv/bin/python bench/security.py [--instances N] [--studies N] [--reps N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common

WORK = Path(__file__).resolve().parent / "_work"
OFF = {"RADDX_SECURITY_ENFORCED": "false", "RADDX_AUDIT_ENABLED": "false"}


@dataclass
class Results:
    store_rates: list[float] = field(default_factory=list)
    qido: list[float] = field(default_factory=list)


def generate(instances: int, studies: int) -> Path:
    """``instances`` small objects spread over ``studies`` studies (one patient each)."""
    folder = WORK / f"security-{instances}-{studies}"
    if folder.is_dir() and len(list(folder.iterdir())) == instances:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pixels = bytes(range(256))
    study_uids = [generate_uid() for _ in range(studies)]
    series_uids = [generate_uid() for _ in range(studies)]
    for n in range(instances):
        s = n % studies
        ds = common.small_dataset(study_uids[s], series_uids[s], generate_uid(), n + 1, pixels)
        ds.PatientID = f"SEC{s:04d}"
        ds.save_as(folder / f"{n:06d}.dcm", enforce_file_format=True)
    return folder


def create_token(server: common.Raddx) -> str:
    """An admin API token in the server's index, made through the domain API (what ``raddx
    token create`` does) from this process: the server reads tokens from the database."""
    from raddx.config import load_settings
    from raddx.security import load_policy
    from raddx.security.tokens import create_token as make_token
    from raddx.services import Services

    assert server.data_dir is not None
    services = Services.from_settings(load_settings(data_dir=server.data_dir))
    try:
        with services.session_factory() as session, session.begin():
            policy = load_policy(services.settings.security_policy_file)
            return make_token(session=session, name="bench", role="admin", policy=policy)
    finally:
        services.close()


def store(folder: Path, logs: Path) -> float:
    started = time.perf_counter()
    with (logs / "storescu.log").open("ab") as log:
        code = subprocess.call(
            [
                "storescu",
                "-aet",
                common.CLIENT_AET,
                "-aec",
                common.RADDX_AET,
                "+sd",
                common.HOST,
                str(common.RADDX_PORT),
                str(folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **common.NODELAY_ENV},
        )
    if code != 0:
        raise common.ServerError(f"storescu exit code {code}")
    return time.perf_counter() - started


def qido(base: str, token: str | None, studies: int, reps: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    times = []
    with httpx.Client(headers=headers, timeout=60) as client:
        for rep in range(reps):
            url = f"{base}/dicom-web/studies?PatientID=SEC{rep % studies:04d}"
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            if response.status_code != 200 or not response.json():
                raise common.ServerError(f"QIDO {url}: {response.status_code}")
    return times


def run_round(
    label: str, env: dict[str, str], folder: Path, args: argparse.Namespace, results: Results
) -> list[str]:
    problems: list[str] = []
    run, logs = WORK / f"security-{label}", WORK / "securitylogs"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    logs.mkdir(parents=True, exist_ok=True)
    server = common.Raddx(env)
    server.start(run, logs / f"raddx-{label}.log")
    try:
        token = None if env else create_token(server)
        results.store_rates.append(args.instances / store(folder, logs))
        base = f"http://{common.HOST}:{server.http_port}"
        results.qido.extend(qido(base, token, args.studies, args.reps))
    finally:
        server.stop(problems)
    return problems


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--studies", type=int, default=50)
    parser.add_argument("--reps", type=int, default=200, help="QIDO requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating on/off rounds")
    return parser.parse_args(argv)


def _overhead(on: float, off: float, higher_is_better: bool) -> float:
    """Percent the controls cost (positive = slower with them on)."""
    return (off / on - 1) * 100 if higher_is_better else (on / off - 1) * 100


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.environ.get(common.NETNS_MARKER) != "1":
        common.reexec_in_netns()
    common.loopback_up()
    folder = generate(args.instances, args.studies)
    results = {"on": Results(), "off": Results()}
    problems: list[str] = []
    for _ in range(args.rounds):
        problems += run_round("on", {}, folder, args, results["on"])
        problems += run_round("off", OFF, folder, args, results["off"])
    on, off = results["on"], results["off"]
    store_on, store_off = statistics.median(on.store_rates), statistics.median(off.store_rates)
    qido_on, qido_off = statistics.median(on.qido) * 1000, statistics.median(off.qido) * 1000
    print(common.machine_report([common.Raddx({})], {}))
    print(
        f"\n## Cost of authorisation + audit ({args.rounds} alternating rounds; "
        f"{args.instances} instances in {args.studies} studies, {args.reps} QIDO per round)"
    )
    print("| metric | controls off | controls on | overhead | target ≤ 10 % |")
    print("|---|---:|---:|---:|---|")
    for name, a, b, better_high, unit in (
        ("C-STORE (storescu, one association)", store_off, store_on, True, "inst/s"),
        ("QIDO-RS by PatientID, median", qido_off, qido_on, False, "ms"),
        (
            "QIDO-RS by PatientID, p95",
            common.p95(off.qido) * 1000,
            common.p95(on.qido) * 1000,
            False,
            "ms",
        ),
    ):
        cost = _overhead(b, a, better_high)
        print(
            f"| {name} | {a:.1f} {unit} | {b:.1f} {unit} | {cost:+.1f} % "
            f"| {'met' if cost <= 10 else 'NOT met'} |"
        )
    if problems:
        print("\nproblems:", *problems, sep="\n- ")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
