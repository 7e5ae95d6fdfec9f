"""Load benchmark: N browser sessions press Generate together on one running app.

    python benchmarks/app_load.py [--sessions 1 5 10] [--rounds 2] [--checkpoint assets/inertialar_qm9.pt]
                                  [--url http://127.0.0.1:8501] [--out benchmarks/results]

Drives Debian Chromium (headless, SwiftShader WebGL) with Playwright, as ``tests/test_browser.py``
does: one browser context per session (so one Streamlit session each), every session on the
Generate page with default settings and its own seed (session i of a round uses seed i + 1).
All N clicks are sent at once; per session it records

* ``app_s``: click → the app's script finished, as the page sees it (the "running" status widget
  gone and the results' download buttons drawn) — the acceptance measure;
* ``first_frame_s``: click → the viewer's WebGL canvas shows a molecule (canvas screenshots, as
  in the browser test, polled once every session's script has finished; on 2 cores N Chromium
  pages drawing at once cost much more than the app);
* CPU seconds used by all the Chromium processes and by the app server from the clicks until
  every session's script finished (Linux ``/proc``): on one small machine the browsers' own work
  competes with the app for the same cores;
* errors (an exception box, an error alert, or a timeout) and cross-talk: the session's
  "Download XYZ (all)" file must hold the molecules its seed gives when sampled alone
  (``inertialar.sampling.sampler.sample``; the sampler's rule: same atom types, coordinates within
  ``REPRO_ATOL`` = 0.01 Å — batching moves them by up to ~2e-3 Å, see ``inertialar/sampler.py``).

Without ``--url`` it starts ``streamlit run app.py`` on a free port with ``--checkpoint`` (default
the shipped one) and stops it afterwards; one unrecorded warm-up round comes first. Writes
``app_load.csv`` (one row per session), ``app_load_summary.csv`` (per N: p50/p95 of both times,
errors, cross-talk, p95 app time over the single-session median) and ``plots/app_load.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from inertialar.chem.molecule import parse_xyz
from inertialar.files import results_dir
from inertialar.nn.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from inertialar.sampling.sampler import REPRO_ATOL, sample
from inertialar.sampling.settings import SampleSettings

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
APP_DEFAULTS = dict(n=4, cfg_scale=2.0, batch_size=16)  # the Generate page's defaults (pages/generate.py)
# textContent, not innerText: the check must not force a layout on a page that is busy drawing
DONE_JS = """() => !document.querySelector('[data-testid=stStatusWidget]')
  && [...document.querySelectorAll('button')].some(b => b.textContent.includes('Download XYZ (all)'))"""
MIN_COLOURS = 20  # a blank canvas has 1 colour
TIMEOUT_S = 300


def start_server(checkpoint: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "INERTIALAR_CHECKPOINT": str(checkpoint), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("streamlit did not become healthy in 90 s")


async def _wait_idle(pg, quiet_s: float = 0.5) -> None:
    quiet_since = None
    while True:
        if await pg.locator("[data-testid=stStatusWidget]").count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_s:
            return
        await asyncio.sleep(0.1)


async def _prepare(browser, url: str, seed: int):
    """A fresh session on the Generate page with the given seed, ready to click."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
    pg = await context.new_page()
    pg.set_default_timeout(TIMEOUT_S * 1000)
    await pg.goto(url)
    await pg.get_by_role("heading", name="Generate", level=1).wait_for()
    await _wait_idle(pg)
    box = pg.get_by_label("Seed", exact=True)
    await box.fill(str(seed))
    await box.press("Enter")
    await _wait_idle(pg)
    await pg.locator("h1").first.screenshot()  # a page's first screenshot is slow: pay it before timing
    return context, pg


async def _canvas_colours(pg) -> int:
    from PIL import Image

    canvas = pg.frame_locator("iframe").first.locator("canvas").first
    try:
        if not await canvas.count():
            return 0
        png = await canvas.screenshot(timeout=10_000)
    except Exception:  # noqa: BLE001 — the iframe is being replaced: not drawn yet
        return 0
    return len(np.unique(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3), axis=0))


async def _session(pg, start: asyncio.Event, finished: list[asyncio.Event], k: int) -> dict:
    """Click on ``start``; the two times and an error text ('' if none). Canvas screenshots (costly
    on 2 cores) start only once every session's script has finished (``finished``), so that they
    do not slow the app-side measurement of the others."""
    button = pg.get_by_role("button", name="Generate", exact=True)
    await start.wait()
    t0 = time.perf_counter()
    await button.click()
    row = {"app_s": np.nan, "first_frame_s": np.nan, "error": ""}
    try:
        try:
            await pg.wait_for_function(DONE_JS, polling=50, timeout=TIMEOUT_S * 1000)
            row["app_s"] = time.perf_counter() - t0
        finally:
            finished[k].set()
        for event in finished:
            await event.wait()
        deadline = time.time() + TIMEOUT_S
        while await _canvas_colours(pg) <= MIN_COLOURS:
            if time.time() > deadline:
                raise TimeoutError("viewer never drew")
            await asyncio.sleep(0.05)
        row["first_frame_s"] = time.perf_counter() - t0
    except Exception as err:  # noqa: BLE001 — recorded, the benchmark goes on
        row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
    if await pg.locator("[data-testid=stException]").count():
        row["error"] = row["error"] or "exception box"
    alerts = pg.locator("[data-testid=stAlertContentError]")
    if await alerts.count():
        row["error"] = row["error"] or f"error alert: {(await alerts.first.inner_text())[:120]}"
    return row


async def _downloaded_xyz(pg) -> str:
    async with pg.expect_download() as info:
        await pg.get_by_role("button", name="Download XYZ (all)").click()
    path = await (await info.value).path()
    return Path(path).read_text()


def crosstalk_ok(model, seed: int, xyz: str) -> bool:
    """The downloaded molecules are those of ``seed`` sampled alone: the sampler's reproducibility
    rule (same atom types, coordinates within ``REPRO_ATOL`` Å; the XYZ file keeps 1e-6 Å)."""
    alone = sample(model, SampleSettings(seed=seed, **APP_DEFAULTS)).molecules
    got = parse_xyz(xyz)
    return len(got) == len(alone) and all(
        a.elements == b.elements and np.abs(a.coords - b.coords).max() <= REPRO_ATOL for a, b in zip(got, alone))


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by all Chromium processes ("browsers") and by Streamlit servers
    ("server"), from Linux ``/proc``; empty elsewhere (the table then shows NaN)."""
    if not os.path.isdir("/proc"):
        return {}
    out = {"browsers": 0.0, "server": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if argv and b"chromium" in argv[0]:
            out["browsers"] += used
        elif b"streamlit" in argv and b"run" in argv:
            out["server"] += used
    return out


async def run_round(browser, url: str, n: int, model) -> list[dict]:
    prepared = [await _prepare(browser, url, seed) for seed in range(1, n + 1)]
    start, finished = asyncio.Event(), [asyncio.Event() for _ in prepared]
    tasks = [asyncio.create_task(_session(pg, start, finished, k)) for k, (_, pg) in enumerate(prepared)]
    await asyncio.sleep(0.2)
    before = cpu_seconds()
    start.set()  # all N clicks go out together
    for event in finished:
        await event.wait()
    used = {k: v - before[k] for k, v in cpu_seconds().items()}  # click → every session's script done
    rows = await asyncio.gather(*tasks)
    for seed, row, (context, pg) in zip(range(1, n + 1), rows, prepared):
        row.update(sessions=n, seed=seed, round_browser_cpu_s=used.get("browsers", np.nan),
                   round_server_cpu_s=used.get("server", np.nan))
        try:
            row["crosstalk_ok"] = crosstalk_ok(model, seed, await _downloaded_xyz(pg)) if not row["error"] else False
        except Exception as err:  # noqa: BLE001
            row["crosstalk_ok"], row["error"] = False, row["error"] or f"download: {err}"
        await context.close()
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    single = df.loc[df["sessions"] == 1, "app_s"].median()
    out = []
    for n, part in df.groupby("sessions"):
        out.append({"sessions": n, "samples": len(part),
                    "app_p50_s": part["app_s"].median(), "app_p95_s": part["app_s"].quantile(0.95),
                    "first_frame_p50_s": part["first_frame_s"].median(),
                    "first_frame_p95_s": part["first_frame_s"].quantile(0.95),
                    "app_p95_over_single": part["app_s"].quantile(0.95) / single,
                    "errors": int((part["error"] != "").sum()),
                    # CPU seconds per round from the clicks until every script finished, all browsers / app
                    "browser_cpu_s": part.groupby("round")["round_browser_cpu_s"].first().mean(),
                    "server_cpu_s": part.groupby("round")["round_server_cpu_s"].first().mean(),
                    "crosstalk_mismatches": int((~part["crosstalk_ok"].astype(bool)).sum())})
    return pd.DataFrame(out).round(3)


def plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for col, label in (("app_p50_s", "app-side p50"), ("app_p95_s", "app-side p95"),
                       ("first_frame_p50_s", "first frame p50"), ("first_frame_p95_s", "first frame p95")):
        ax.plot(summary["sessions"], summary[col], marker="o", ls="-" if "app" in col else "--", label=label)
    single = summary.loc[summary["sessions"] == 1, "app_p50_s"]
    if len(single):
        ax.axhline(2.5 * float(single.iloc[0]), color="grey", ls=":", label="2.5 × single-session app time")
    ax.set_xlabel("concurrent sessions pressing Generate")
    ax.set_ylabel("seconds from the click")
    ax.set_title("App under load (Generate, 4 molecules each)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


async def main_async(args) -> pd.DataFrame:
    from playwright.async_api import async_playwright

    torch.set_num_threads(1)  # the cross-talk check samples here too: leave the cores to the app
    model, _ = load_checkpoint(args.checkpoint)
    proc, url = (None, args.url) if args.url else start_server(args.checkpoint)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            await run_round(browser, url, 1, model)  # warm-up: checkpoint load, first sampling call, 3Dmol.js
            rows = []
            for n in args.sessions:
                for r in range(args.rounds):
                    got = await run_round(browser, url, n, model)
                    rows += [{**row, "round": r} for row in got]
                    s = pd.DataFrame(got)
                    print(f"N={n} round {r}: app {s['app_s'].median():.2f} s p50 / {s['app_s'].max():.2f} s max; "
                          f"first frame {s['first_frame_s'].median():.2f} s p50; errors "
                          f"{int((s['error'] != '').sum())}; cross-talk ok {int(s['crosstalk_ok'].sum())}/{n}",
                          flush=True)
            await browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--rounds", type=int, default=2, help="rounds per N (times are pooled)")
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    ap.add_argument("--url", help="an app already running with --checkpoint (default: start one)")
    ap.add_argument("--out", type=Path, default=results_dir())
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]
    t0 = time.time()
    df = asyncio.run(main_async(args))
    summary = summarise(df)
    summary["load_avg_1min_before"] = round(load_before, 2)
    summary["cpu_cores"] = os.cpu_count()
    summary["checkpoint"] = Path(args.checkpoint).name
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "app_load.csv", index=False)
    summary.to_csv(args.out / "app_load_summary.csv", index=False)
    plot(summary, args.out / "plots" / "app_load.png")
    print(summary.to_string(index=False))
    print(f"{time.time() - t0:.0f} s in all; wrote {args.out / 'app_load_summary.csv'}")


if __name__ == "__main__":
    main()
