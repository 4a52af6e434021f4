"""What decoding costs on the kerb scenes of ``bench_speed``: where sparse decoding's CPU goes.

    python bench/bench_decode.py [--seconds 120] [--out bench/results]

On the same composed quiet and busy kerbs as ``bench/bench_speed.py`` (720p25 H.264,
3 Mbit/s, 2 s GOP, no B-frames; composed once and cached under ``--out/scenes``), measures
in one run, one process, one FFmpeg thread, the CPU time (``time.process_time``) of:

  * demuxing every packet;
  * decoding the keyframes only (``skip_frame=NONKEY``: ``vision.sparse``'s keyframe pass),
    with the keyframes' mean size;
  * decoding every frame (what ``--exact`` and a live camera decode);
  * converting the frames analysed at 2 fps to BGR (``vision.decoding.to_image``);

each per second of footage, and the keyframes' share of a full decode. The figures the
README gives for decoding (keyframe cost, its share) are copied from this output:
bench/results/decode.md and decode.json, with the machine, the load and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

ANALYSIS_FPS = 2.0


def _cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def measure(video: Path) -> dict[str, Any]:
    """CPU seconds of each decoding step on ``video`` (see the module docstring)."""
    import av

    from vision.decoding import to_image

    def demux() -> int:
        with av.open(str(video)) as c:
            return sum(1 for _ in c.demux(c.streams.video[0]))

    def keyframes() -> tuple[int, float]:
        with av.open(str(video)) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = 1
            s.codec_context.skip_frame = "NONKEY"
            n = 0
            for _ in c.decode(s):
                n += 1
        with av.open(str(video)) as c:
            sizes = [p.size for p in c.demux(c.streams.video[0]) if p.is_keyframe and p.size]
        return n, sum(sizes) / max(len(sizes), 1)

    frames: list[av.VideoFrame] = []

    def full() -> tuple[int, float]:
        with av.open(str(video)) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = 1
            fps = float(s.average_rate or 25)
            step = max(1, round(fps / ANALYSIS_FPS))
            n = 0
            for f in c.decode(s):
                if n % step == 0:
                    frames.append(f)  # kept for the conversion, timed apart
                n += 1
        return n, fps

    demux_s, packets = _cpu(demux)
    key_s, (n_key, key_bytes) = _cpu(keyframes)
    full_s, (n_frames, fps) = _cpu(full)
    convert_s, _ = _cpu(lambda: [to_image(f, 0) for f in frames])
    footage_s = n_frames / fps
    return {
        "footage_s": round(footage_s, 1),
        "packets": packets,
        "keyframes": n_key,
        "keyframe_kb_mean": round(key_bytes / 1000, 1),
        "demux_ms_per_footage_s": round(1000 * demux_s / footage_s, 2),
        "keyframes_ms_per_footage_s": round(1000 * key_s / footage_s, 2),
        "ms_per_keyframe": round(1000 * key_s / max(n_key, 1), 2),
        "full_decode_ms_per_footage_s": round(1000 * full_s / footage_s, 2),
        "ms_per_frame": round(1000 * full_s / max(n_frames, 1), 2),
        "keyframes_share_of_full_decode": round(key_s / full_s, 3) if full_s else None,
        "bgr_ms_per_analysed_frame": round(1000 * convert_s / max(len(frames), 1), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=120, help="length of each composed scene")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    from bench_speed import compose

    args.out.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    rows = {}
    for kind in ("quiet", "busy"):
        video, _, _ = compose(kind, args.seconds, args.out)
        print(f"{kind}: decoding {video.name} ...", flush=True)
        rows[kind] = measure(video)
    load1 = os.getloadavg()[0]
    command = "python bench/bench_decode.py" + (
        " " + shlex.join(sys.argv[1:]) if sys.argv[1:] else ""
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = (
        f"`{command}` on {platform.machine()}, {os.cpu_count()} cores, CPython"
        f" {platform.python_version()}, one FFmpeg thread, load average {load0:.2f} before /"
        f" {load1:.2f} after ({when}); the kerb scenes of bench_speed (720p25 H.264, 3 Mbit/s,"
        " 2 s GOP)."
    )
    cols = [
        ("footage s", "footage_s"),
        ("keyframes", "keyframes"),
        ("keyframe kB (mean)", "keyframe_kb_mean"),
        ("demux ms / footage-s", "demux_ms_per_footage_s"),
        ("keyframes only ms / footage-s", "keyframes_ms_per_footage_s"),
        ("ms per keyframe", "ms_per_keyframe"),
        ("every frame ms / footage-s", "full_decode_ms_per_footage_s"),
        ("ms per frame", "ms_per_frame"),
        ("keyframes / every frame", "keyframes_share_of_full_decode"),
        ("BGR ms per analysed frame", "bgr_ms_per_analysed_frame"),
    ]
    lines = [head, "", "| scene | " + " | ".join(c for c, _ in cols) + " |"]
    lines.append("|---|" + "---:|" * len(cols))
    for kind, r in rows.items():
        lines.append(f"| {kind} | " + " | ".join(str(r[k]) for _, k in cols) + " |")
    (args.out / "decode.md").write_text("\n".join(lines) + "\n")
    (args.out / "decode.json").write_text(
        json.dumps(
            {"command": command, "load": [load0, load1], "when": when, "rows": rows}, indent=2
        )
        + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
