"""baywatch next to ultralytics' ParkingManagement on a quiet and a busy kerb, same model.

    python bench/bench_speed.py [--seconds 120] [--scenes quiet busy] [--out bench/results]
                                [--video V --site S --truth T]   # your own footage instead

Composes (occupancy.evaluation.scenes.kerb_spec, real MEVA pixels, exact truth) a quiet
and a busy kerb as a 720p25 H.264 camera records them (3 Mbit/s, 2 s GOP, no B-frames),
then runs on each, every method in its own process one after the other (so start-up,
CPU time and peak memory are its own):

  * baywatch: the default analysis (2 fps, sparse decoding, motion-gated detector,
    the region around the zones of several frames detected in one inference,
    decoding in a thread ahead of detection);
  * baywatch untiled: the same with whole frames to the detector (what tiling gains);
  * baywatch serial: the same without the decode thread (what the thread gains);
  * baywatch --exact: every frame decoded, the detector on every analysed frame:
    the per-frame reference the fast paths must agree with;
  * ultralytics.solutions.ParkingManagement on every frame (25 fps), same model, same bays.

For each it reports start-up (process start to the first analysed frame: interpreter,
imports, model load and compile, warm-up, opening the footage) apart from the analysis,
footage-seconds per wall-second and per CPU-second of the analysis, peak RSS, per-second
occupancy agreement with the per-frame reference and with the truth, and session F1
against the truth. Writes bench/results/speed.md and speed.json with the machine, load
(os.getloadavg before and after) and command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

T_PROCESS = time.time()  # as early as possible: start-up is measured from here

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("BAYWATCH_MODEL", str(SHARED / "models/yolo11n_int8_openvino_model"))

SCENE_VERSION = 1  # bump when kerb_spec or the composer changes what a scene looks like
ANALYSIS_FPS = 2.0
METHODS = ("fast", "untiled", "serial", "exact", "parking")
LABEL = {
    "fast": "baywatch (default: 2 fps, sparse decode, motion gate, decode thread, zones tiled)",
    "untiled": "baywatch, whole frames to the detector (no tiling)",
    "serial": "baywatch, no decode thread",
    "exact": "baywatch --exact (every frame decoded, detector on every analysed frame)",
    "parking": "ultralytics ParkingManagement, every frame",
}


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime  # every thread of this process


class _Clock:
    """Start-up ends at the first analysed frame; the analysis runs from there."""

    def __init__(self) -> None:
        self.first: tuple[float, float] | None = None

    def tick(self, *_: object) -> None:
        if self.first is None:
            self.first = (time.time(), _cpu_s())

    def report(self) -> dict[str, float]:
        assert self.first is not None, "no frame was analysed"
        end_wall, end_cpu = time.time(), _cpu_s()
        return {
            "startup_s": self.first[0] - T_PROCESS,
            "startup_cpu_s": self.first[1],
            "wall_s": end_wall - self.first[0],
            "cpu_s": end_cpu - self.first[1],
        }


def worker_baywatch(video: str, site_path: str, method: str) -> dict[str, Any]:
    import tempfile

    from occupancy.config.site import load_site
    from occupancy.runtime.analysis import analyse
    from occupancy.storage.store import Store
    from vision.detector import Detector

    clock = _Clock()
    site = load_site(site_path)
    det = Detector.for_site(site, os.environ["BAYWATCH_MODEL"])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/b.db")
        res = analyse(
            video,
            site,
            store,
            detector=det,
            analysis_fps=ANALYSIS_FPS,
            exact=method == "exact",
            prefetch=0 if method == "serial" else None,
            tile=method != "untiled",
            progress=clock.tick,
        )
        timing = clock.report()
        # Imported after the clock: the evaluation (scipy) is the benchmark's, not analyse's.
        from occupancy.evaluation.evaluate import spans_from_store

        spans, _ = spans_from_store(store, site, res.run_id)
        store.close()
    return {
        **timing,
        "footage_s": res.footage_s,
        "frames": res.frames_analysed,
        "detector_runs": res.detector_runs,
        "spans": [[s.zone, s.kind, s.start_s, s.end_s, s.open_end] for s in spans],
    }


def worker_parking(video: str, site_path: str) -> dict[str, Any]:
    import cv2
    from ultralytics import solutions

    from occupancy.config.site import load_site

    clock = _Clock()
    site = load_site(site_path)
    regions = [{"points": [list(map(int, p)) for p in b.pixels or []]} for b in site.bays]
    rpath = Path(video).with_suffix(".regions.json")
    rpath.write_text(json.dumps(regions))
    pm = solutions.ParkingManagement(
        model=os.environ["BAYWATCH_MODEL"], json_file=str(rpath), show=False, verbose=False
    )
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    polys = [np.array(r["points"], np.int32).reshape(-1, 1, 2) for r in regions]
    per_frame: list[list[bool]] = []
    while True:
        ok, im = cap.read()
        if not ok:
            break
        pm.process(im)
        # ParkingManagement's own rule: a region is occupied if a box centre lies in it.
        flags = []
        for poly in polys:
            hit = False
            for box in pm.boxes:
                x0, y0, x1, y1 = (float(v) for v in box)
                if cv2.pointPolygonTest(poly, ((x0 + x1) / 2, (y0 + y1) / 2), False) >= 0:
                    hit = True
                    break
            flags.append(hit)
        per_frame.append(flags)
        clock.tick()
    timing = clock.report()
    arr = np.array(per_frame, bool)
    # Occupancy at the middle of each second (the evaluation's sampling), from the frame there.
    seconds = int(len(arr) / fps)
    mid = [min(len(arr) - 1, int((s + 0.5) * fps)) for s in range(seconds)]
    return {
        **timing,
        "footage_s": len(arr) / fps,
        "frames": len(arr),
        "detector_runs": len(arr),
        "occupancy": {b.id: arr[mid, i].tolist() for i, b in enumerate(site.bays)},
    }


def run_worker(method: str, video: Path, site: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", method, "--video", str(video), "--site", str(site)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{method} on {video}: worker failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _cut(video: Path, seconds: float, out: Path) -> Path:
    """The first ``seconds`` of ``video``, remuxed (no re-encoding) to ``out``."""
    import av

    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        s = src.streams.video[0]
        d = dst.add_stream_from_template(s)
        for pkt in src.demux(s):
            if pkt.pts is None or pkt.size == 0:
                continue
            if pkt.pts * s.time_base >= seconds:
                break
            pkt.stream = d
            dst.mux(pkt)
    return out


def cli_startup(video: Path, site: Path, runs: int = 3) -> dict[str, Any]:
    """What a user waits for: ``baywatch --help``, and ``baywatch analyse`` of a 1-second
    cut of ``video`` (two analysed frames) from process start to exit, i.e. start-up plus
    two frames plus closing; each the median of ``runs`` runs, wall and CPU seconds.
    """
    import statistics
    import tempfile

    def timed(cmd: list[str]) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            sys.exit(f"{shlex.join(cmd)} failed:\n{out.stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu

    baywatch = [sys.executable, "-m", "baywatch"]
    with tempfile.TemporaryDirectory() as tmp:
        clip = _cut(video, 1.0, Path(tmp) / "clip.mp4")
        helps = [timed([*baywatch, "--help"]) for _ in range(runs)]
        analyses = [
            timed(
                [
                    *baywatch,
                    "analyse",
                    str(clip),
                    "--site",
                    str(site),
                    "--db",
                    f"sqlite:///{tmp}/{i}.db",
                ]
            )
            for i in range(runs)
        ]
    return {
        "help_s": round(statistics.median(w for w, _ in helps), 2),
        "help_cpu_s": round(statistics.median(c for _, c in helps), 2),
        "analyse_1s_clip_s": round(statistics.median(w for w, _ in analyses), 2),
        "analyse_1s_clip_cpu_s": round(statistics.median(c for _, c in analyses), 2),
        "runs": runs,
    }


def compose(kind: str, seconds: int, out: Path) -> tuple[Path, Path, Path]:
    from occupancy.evaluation.scenes import compose_scene, kerb_spec

    folder = out / "scenes" / f"{kind}-{seconds}s-v{SCENE_VERSION}"
    paths = (folder / "scene.mp4", folder / "site.yaml", folder / "truth.json")
    if not all(p.exists() for p in paths):
        print(
            f"composing the {kind} kerb ({seconds} s, 720p25 H.264) in {folder} ...",
            file=sys.stderr,
        )
        compose_scene(kerb_spec(kind, seconds), folder, seed=0)  # type: ignore[arg-type]
    return paths


def _occupancy(spans: list[list[Any]], zone: str, duration_s: float) -> np.ndarray:
    from occupancy.evaluation.evaluate import Span, occupied_seconds

    found = [Span(z, k, a, max(b, duration_s) if open_end else b) for z, k, a, b, open_end in spans]
    return occupied_seconds(found, zone, duration_s)


def score(results: dict[str, dict[str, Any]], truth_path: Path) -> dict[str, dict[str, Any]]:
    """Agreement with the per-frame reference and with the truth, per method."""
    from occupancy.evaluation.evaluate import Span, evaluate, occupied_seconds, truth_spans
    from occupancy.evaluation.truth import load_truth

    truth = load_truth(truth_path)
    dur = truth.duration_s
    n = int(dur)
    zones = truth.zone_ids()
    true = truth_spans(truth)
    out: dict[str, dict[str, Any]] = {}
    for m, r in results.items():
        if m == "parking":
            occ = {b: np.array(r["occupancy"][b][:n], bool) for b in truth.bays}
            rep = None
        else:
            occ = {z: _occupancy(r["spans"], z, dur) for z in zones}
            found = [Span(z, k, a, b, bool(o)) for z, k, a, b, o in r["spans"]]
            rep = evaluate(truth, found)
        out[m] = {"occ": occ, "report": rep}
    ref = out.get("exact")
    scores: dict[str, dict[str, Any]] = {}
    for m, o in out.items():
        occ = o["occ"]
        zs = sorted(occ)
        agree_ref = (
            float(np.mean([np.mean(occ[z] == ref["occ"][z][: len(occ[z])]) for z in zs]))
            if ref is not None
            else None
        )
        agree_truth = float(
            np.mean([np.mean(occ[z] == occupied_seconds(true, z, dur)[: len(occ[z])]) for z in zs])
        )
        rep = o["report"]
        scores[m] = {
            "zones_compared": zs,
            "agreement_with_per_frame": agree_ref,
            "agreement_with_truth": agree_truth,
            "session_f1": None if rep is None else rep.f1,
            "sessions_true": len(true) if rep is None else rep.n_true,
            "sessions_found": None if rep is None else rep.n_found,
        }
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=int, default=120, help="length of each composed scene")
    ap.add_argument("--scenes", nargs="+", choices=["quiet", "busy"], default=["quiet", "busy"])
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--video", type=Path, help="your own footage (with --site and --truth)")
    ap.add_argument("--site", type=Path)
    ap.add_argument("--truth", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument(
        "--render", action="store_true", help="only rewrite speed.md from the last speed.json"
    )
    ap.add_argument(
        "--no-cli", action="store_true", help="skip timing the baywatch command's start-up"
    )
    ap.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.render:
        md = render(json.loads((args.out / "speed.json").read_text()))
        (args.out / "speed.md").write_text(md + "\n")
        print(md)
        return
    if args.worker:
        if args.worker == "parking":
            res = worker_parking(str(args.video), str(args.site))
        else:
            res = worker_baywatch(str(args.video), str(args.site), args.worker)
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    if args.video is not None:
        if args.site is None or args.truth is None:
            ap.error("--video needs --site and --truth")
        scenes = {args.video.stem: (args.video, args.site, args.truth)}
    else:
        scenes = {k: compose(k, args.seconds, args.out) for k in args.scenes}
    load_before = os.getloadavg()
    t0 = time.time()
    report: dict[str, Any] = {"scenes": {}}
    for name, (video, site, truth) in scenes.items():
        results: dict[str, dict[str, Any]] = {}
        for m in args.methods:
            print(f"{name}: {LABEL[m]} ...", file=sys.stderr)
            results[m] = run_worker(m, video, site)
        scores = score(results, truth)
        rows = []
        for m, r in results.items():
            rows.append(
                {
                    "method": m,
                    "label": LABEL[m],
                    "footage_s": round(r["footage_s"], 1),
                    "startup_s": round(r["startup_s"], 2),
                    "startup_cpu_s": round(r["startup_cpu_s"], 2),
                    "wall_s": round(r["wall_s"], 2),
                    "cpu_s": round(r["cpu_s"], 2),
                    "x_real_time": round(r["footage_s"] / r["wall_s"], 1),
                    "x_real_time_per_cpu_s": round(r["footage_s"] / r["cpu_s"], 1),
                    "x_real_time_with_startup": round(
                        r["footage_s"] / (r["wall_s"] + r["startup_s"]), 1
                    ),
                    "frames": r["frames"],
                    "detector_runs": r["detector_runs"],
                    "peak_rss_mb": round(r["peak_rss_mb"]),
                    **{
                        k: (round(v, 4) if isinstance(v, float) else v)
                        for k, v in scores[m].items()
                    },
                }
            )
        by = {r["method"]: r for r in rows}
        ratios = {}
        if "fast" in by and "parking" in by:
            ratios["fast_vs_parking_wall"] = round(
                by["parking"]["wall_s"] / by["fast"]["wall_s"], 1
            )
            ratios["fast_vs_parking_cpu"] = round(by["parking"]["cpu_s"] / by["fast"]["cpu_s"], 1)
        if "fast" in by and "untiled" in by:
            ratios["untiled_vs_fast_wall"] = round(
                by["untiled"]["wall_s"] / by["fast"]["wall_s"], 2
            )
        if "fast" in by and "serial" in by:
            ratios["serial_vs_fast_wall"] = round(by["serial"]["wall_s"] / by["fast"]["wall_s"], 2)
        report["scenes"][name] = {"video": str(video), "rows": rows, "ratios": ratios}
    if not args.no_cli:
        video, site, _ = next(iter(scenes.values()))
        print("baywatch --help and analyse of a 1-second clip ...", file=sys.stderr)
        report["cli"] = cli_startup(video, site)
    load_after = os.getloadavg()
    report.update(
        {
            "command": "python " + shlex.join(["bench/bench_speed.py", *sys.argv[1:]]),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}",
            "model": Path(os.environ["BAYWATCH_MODEL"]).name,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
            "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "bench_wall_s": round(time.time() - t0, 1),
        }
    )
    md = render(report)
    print(md)
    (args.out / "speed.md").write_text(md + "\n")
    (args.out / "speed.json").write_text(json.dumps(report, indent=2) + "\n")


def _targets(report: dict[str, Any]) -> list[str]:
    """Issue 16's targets next to this run's figures (2 cores, 720p25, same model)."""
    rows = []

    def row(name: str, scene: str, method: str) -> dict[str, Any] | None:
        s = report["scenes"].get(scene)
        return next((r for r in s["rows"] if r["method"] == method), None) if s else None

    def line(what: str, target: str, measured: str, ok: bool) -> None:
        rows.append(f"| {what} | {target} | {measured} | {'reached' if ok else 'not reached'} |")

    for scene, goal in (("busy", 20.0), ("quiet", 60.0)):
        r = row("", scene, "fast")
        if r is not None:
            line(
                f"{scene} kerb, × real time",
                f"≥ {goal:g}×",
                f"{r['x_real_time']}× wall, {r['x_real_time_per_cpu_s']}× per CPU-s",
                r["x_real_time"] >= goal,
            )
            agree = r["agreement_with_per_frame"]
            if agree is not None:
                line(
                    f"{scene} kerb, agreement with per-frame",
                    "≥ 99 %",
                    _pct(agree),
                    agree >= 0.99,
                )
    busy = report["scenes"].get("busy")
    if busy and "fast_vs_parking_wall" in busy["ratios"]:
        x = busy["ratios"]["fast_vs_parking_wall"]
        line(
            "busy kerb, faster than ParkingManagement",
            "≥ 20×",
            f"{x}× wall, {busy['ratios']['fast_vs_parking_cpu']}× CPU",
            x >= 20,
        )
    r = row("", "busy", "fast") or row("", "quiet", "fast")
    if r is not None:
        line(
            "`analyse` start-up (process start to first frame)",
            "≤ 2 s",
            f"{r['startup_s']} s wall ({r['startup_cpu_s']} CPU s)",
            r["startup_s"] <= 2.0,
        )
    cli = report.get("cli")
    if cli is not None:
        line("`baywatch --help`", "< 1 s", f"{cli['help_s']} s", cli["help_s"] < 1.0)
    if not rows:
        return []
    return [
        "Targets (issue 16), from this run:",
        "",
        "| target | goal | measured | |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def render(report: dict[str, Any]) -> str:
    md = [
        f"`{report['command']}` on {report['machine']}, model {report['model']}, "
        f"load average {report['load_before'][0]} before / {report['load_after'][0]} after "
        f"({report['finished_utc']}).",
        "",
    ]
    for name, s in report["scenes"].items():
        md += [
            f"**{name}** ({Path(s['video']).parent.name}): "
            + ", ".join(f"{k} {v}×" for k, v in s["ratios"].items()),
            "",
            "| method | footage s | start-up s (CPU s) | analysis wall s | analysis CPU s "
            "| × real time | × real time per CPU-s | × real time incl. start-up "
            "| detector runs | peak RSS MB | agreement with per-frame | agreement with truth "
            "| session F1 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in s["rows"]:
            f1 = "—" if r["session_f1"] is None else f"{r['session_f1']:.2f}"
            md.append(
                f"| {r['label']} | {r['footage_s']} | {r['startup_s']} ({r['startup_cpu_s']}) "
                f"| {r['wall_s']} | {r['cpu_s']} | {r['x_real_time']} "
                f"| {r['x_real_time_per_cpu_s']} | {r['x_real_time_with_startup']} "
                f"| {r['detector_runs']} | {r['peak_rss_mb']} "
                f"| {_pct(r['agreement_with_per_frame'])} | {_pct(r['agreement_with_truth'])} "
                f"| {f1} |"
            )
        md.append("")
    md += _targets(report)
    cli = report.get("cli")
    if cli is not None:
        md += [
            f"Start-up of the command (median of {cli['runs']} runs, process start to exit): "
            f"`baywatch --help` {cli['help_s']} s ({cli['help_cpu_s']} CPU s); "
            f"`baywatch analyse` of a 1-second clip (start-up, two analysed frames, closing) "
            f"{cli['analyse_1s_clip_s']} s ({cli['analyse_1s_clip_cpu_s']} CPU s).",
            "",
        ]
    md.append(
        "Agreement: share of (zone, second) pairs whose occupancy matches; ParkingManagement "
        "is compared on the bays only (it has no lane zones). Start-up: process start to the "
        "first analysed frame."
    )
    return "\n".join(md)


if __name__ == "__main__":
    main()
