"""Sessions from real footage re-encoded as a cellular CCTV uplink delivers it (issue 13,
"F1 >= 0.9 at 150 kbit/s"): the MEVA a1c9/b7e2 frames (a white SUV parked at the frame's
left border, tailgate open, people loading it) and the Intel aisle clip (drive-throughs
only), encoded here with ffmpeg (libx264, constant bit rate) as
``bench/bench_accuracy.py --real-bitrates`` does.

Before the fixes the a1c9 SUV got no session at 80 or 150 kbit/s and b7e2's none at
80 kbit/s with a 10-s GOP: the first keyframe is starved of bits, so the SUV scores
under the new-track threshold for a second or two and its track is confirmed late
(``VehicleTracker.earlier``); and its box, cut by the border, flips between the SUV
alone and the SUV with its tailgate and the person beside it (the machine's rule for
clipped boxes). The sites take a 3-s minimum stop on these 5-s clips: a session needs
the SUV at rest by 1.5 s. Not reached: a1c9 at 80 kbit/s with a 10-s GOP (its box's
bottom edge moves by 12 px and its inner side by 47 px between 1 s and 4.5 s, which the
machine takes as a drift; see occupancy/EVALUATION.md).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from occupancy.config.site import load_site
from occupancy.evaluation.evaluate import evaluate, spans_from_store
from occupancy.evaluation.truth import load_truth
from occupancy.runtime.analysis import analyse
from occupancy.storage.store import Store
from tests.conftest import MODEL, SAMPLES, needs_footage
from vision.detector import Detector

pytestmark = [
    needs_footage,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH"),
]


def reencode(sample: str, kbps: int, gop_s: float, tmp: Path) -> Path:
    """The sample's footage at ``kbps`` kbit/s (libx264 CBR, GOP ``gop_s``), and a site
    file for it in ``tmp``."""
    doc = yaml.safe_load((SAMPLES / f"{sample}.yaml").read_text())
    src = (SAMPLES / doc["source"]["uri"]).resolve()
    fps = doc["source"].get("fps") or 30
    if src.is_dir():  # numbered JPEG frames
        inputs = ["-framerate", f"{fps:g}", "-pattern_type", "glob", "-i", str(src / "*.jpg")]
    else:
        inputs = ["-i", str(src)]
    out = tmp / f"{sample}-{kbps}k.mp4"
    rate = f"{kbps}k"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y", *inputs,
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", rate, "-maxrate", rate,
            "-bufsize", f"{2 * kbps}k", "-g", str(round(gop_s * fps)), "-pix_fmt", "yuv420p",
            # one thread: libx264's threaded rate control is not reproducible run to run
            "-threads", "1", str(out),
        ],
        check=True,
    )  # fmt: skip
    doc["source"]["uri"] = str(out)
    doc["source"].pop("fps", None)
    site = tmp / f"{sample}.yaml"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    return site


def analysed(site_path: Path, tmp: Path) -> list:  # type: ignore[type-arg]
    site = load_site(site_path)
    store = Store(f"sqlite:///{tmp / 'run.db'}")
    result = analyse(site.source.uri, site, store, detector=Detector.for_site(site, str(MODEL)))
    found, _ = spans_from_store(store, site, result.run_id)
    store.close()
    return found


@pytest.mark.parametrize(
    ("sample", "kbps", "gop_s"),
    [
        ("meva-a1c9", 150, 2.0),
        ("meva-a1c9", 150, 10.0),
        ("meva-a1c9", 80, 2.0),
        ("meva-b7e2", 80, 10.0),
    ],
)
def test_the_parked_suv_keeps_its_session_at_low_bit_rates(
    sample: str, kbps: int, gop_s: float, tmp_path: Path
) -> None:
    found = analysed(reencode(sample, kbps, gop_s, tmp_path), tmp_path)
    # One session, in the SUV's bay; the empty asphalt bay (a person walks into it) and the
    # road stay empty.
    assert [(s.zone, s.kind) for s in found] == [("suv-bay", "park")], found
    [suv] = found
    # There all along: found from at most 1.0 s (two analysed frames: the starved first
    # keyframe) to the last analysed frame, still open.
    assert suv.start_s <= 1.0 and suv.open_end, suv
    report = evaluate(load_truth(SAMPLES / "truth" / f"{sample}.json"), found)
    assert report.f1 == 1.0 and report.bay_accuracy is not None
    assert report.bay_accuracy >= 0.9, report.bay_accuracy


def test_drive_throughs_make_no_session_at_low_bit_rates(tmp_path: Path) -> None:
    # The Intel overhead aisle clip: cars only drive along the aisle and past the stalls.
    assert analysed(reencode("intel-aisle", 150, 2.0, tmp_path), tmp_path) == []
