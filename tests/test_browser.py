"""The app in a real browser: Debian Chromium (headless, WebGL through SwiftShader) driven by
Playwright against ``streamlit run app.py`` on a free local port with a tiny random checkpoint.

Checks that every page loads without an exception box, that Generate draws a non-blank WebGL
canvas inside the viewer iframe and its player steps through the frames, and that no request
leaves 127.0.0.1. Prints the seconds from the click on Generate to the first drawn frame for
1 molecule (cold server, then warm) and 16 molecules (``BROWSER_TIMING ...``); with
``INERTIALAR_RECORD_TIMING=1`` they are also written to ``benchmarks/results/app_timing.csv``;
``INERTIALAR_TIMING_CHECKPOINT=assets/inertialar_qm9.pt`` times the shipped model instead.

Chromium must be installed (``apt-get install -y chromium``; ``make test`` does it): without it
these tests fail, they do not skip.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from playwright.sync_api import Error as PlaywrightError

from conftest import tiny_config
from inertialar.chem.molecule import parse_xyz
from inertialar.data.specs import QM9_ELEMENTS
from inertialar.files import results_dir
from inertialar.nn.checkpoint import MOSES_CHECKPOINT, load_checkpoint, load_polisher, save_checkpoint, save_polisher
from inertialar.nn.model import InertialAR
from inertialar.nn.polisher import Polisher, PolisherConfig
from inertialar.sampling.sampler import REPRO_ATOL, sample
from inertialar.sampling.settings import SampleSettings

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
PAGES = [("failures", "Failure inspector"), ("canonicalization", "Canonicalization lab"),
         ("benchmarks", "Model & benchmarks"), ("", "Generate")]  # a sub-page first: a fresh server
TIMING_CSV = results_dir() / "app_timing.csv"
MIN_COLOURS = 20  # a blank (uniform) canvas has 1; atoms, bonds and axes give hundreds

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """The tiny random model, or the checkpoint named by INERTIALAR_TIMING_CHECKPOINT (for timings)."""
    if os.environ.get("INERTIALAR_TIMING_CHECKPOINT"):
        return Path(os.environ["INERTIALAR_TIMING_CHECKPOINT"]).resolve()
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, InertialAR(tiny_config()).eval(), {"steps": 7})
    return path


@pytest.fixture(scope="module")
def tiny_polisher_checkpoint(tmp_path_factory) -> Path:
    """A tiny random polisher (its coordinate layers not zero, so the polish frames move atoms)."""
    torch.manual_seed(0)
    model = Polisher(PolisherConfig(elements=QM9_ELEMENTS, dataset="qm9", width=16, layers=2, rbf=8))
    for layer in model.layers:
        torch.nn.init.normal_(layer.coord.weight, std=0.5)
    path = tmp_path_factory.mktemp("polisher") / "tiny_polisher.pt"
    save_polisher(path, model.eval(), {"dataset": "qm9"})
    return path


def _serve(checkpoint: Path, log: Path, polisher: Path | None = None):
    """``streamlit run app.py`` on a free port with ``checkpoint`` as the default model (and
    ``polisher`` as its polisher: none if not given); yields the base URL."""
    port = _free_port()
    env = {**os.environ, "INERTIALAR_CHECKPOINT": str(checkpoint), "PYTHONPATH": str(ROOT),
           "INERTIALAR_POLISHER": str(polisher) if polisher else "none"}
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.serverAddress", "127.0.0.1",
           "--server.fileWatcherType", "none"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"streamlit did not become healthy in 90 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tiny_polisher_checkpoint, tmp_path_factory) -> str:
    """The app on the tiny random QM9 model, with a tiny random polisher."""
    yield from _serve(tiny_checkpoint, tmp_path_factory.mktemp("server") / "streamlit.log", tiny_polisher_checkpoint)


@pytest.fixture(scope="module")
def moses_server(tmp_path_factory) -> str:
    """The app on the shipped drug-like checkpoint (assets/inertialar_moses.pt) as its model."""
    if not MOSES_CHECKPOINT.exists():
        pytest.fail(f"the shipped drug-like checkpoint {MOSES_CHECKPOINT} is missing")
    yield from _serve(MOSES_CHECKPOINT, tmp_path_factory.mktemp("moses_server") / "streamlit.log")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(make test does this). The browser tests need it; they do not skip.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh browser session (so a fresh Streamlit session); fails the test if any request
    went anywhere but the local server."""
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()
    host = urlparse(server).netloc
    foreign = [u for u in requests if urlparse(u).scheme not in ("data", "blob", "about")
               and urlparse(u).netloc != host]
    assert not foreign, f"requests left {host}: {foreign[:5]}"


def _wait_idle(pg, quiet_s: float = 1.0, timeout_s: float = 120.0) -> None:
    """Wait until Streamlit's 'running' status widget has been absent for quiet_s seconds."""
    deadline, quiet_since = time.time() + timeout_s, None
    while time.time() < deadline:
        if pg.locator("[data-testid=stStatusWidget]").count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_s:
            return
        time.sleep(0.1)
    raise AssertionError("the app kept running")


def _canvas_colours(pg, index: int) -> int:
    """Distinct colours in a screenshot of viewer ``index``'s WebGL canvas (0: not there yet).

    A screenshot, not a JS pixel read: headless Chromium only runs the rendering steps (resize
    and intersection observers, which size 3Dmol's canvas and redraw it) when a frame is
    produced, and a screenshot produces one — as a visible tab always does."""
    from PIL import Image

    canvas = pg.frame_locator("iframe").nth(index).locator("canvas").first
    try:
        if not canvas.count():
            return 0
        png = canvas.screenshot(timeout=10_000)
    except PlaywrightError:  # the iframe is being replaced by a rerun: not drawn yet
        return 0
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    return len(np.unique(pixels, axis=0))


def _wait_drawn(pg, count: int, timeout_s: float = 120.0) -> None:
    """Wait until ``count`` viewer canvases each show more than a few colours (not blank)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if all(_canvas_colours(pg, i) > MIN_COLOURS for i in range(count)):
            return
        time.sleep(0.05)
    pg.screenshot(path=str(Path(tempfile.gettempdir()) / "inertialar_browser_failure.png"))
    raise AssertionError(f"fewer than {count} non-blank viewer canvas(es) after {timeout_s:.0f} s "
                         f"(colours: {[_canvas_colours(pg, i) for i in range(count)]})")


def test_every_page_loads_without_an_exception_box(page, server):
    for path, title in PAGES:
        page.goto(f"{server}/{path}")
        page.get_by_role("heading", name=title, level=1).wait_for()
        _wait_idle(page)
        assert page.locator("[data-testid=stException]").count() == 0, path
        assert page.get_by_text("Page not found").count() == 0, path
        assert page.locator("[data-testid=stSidebarNavLink]").count() == 4, path  # only our pages
        if path == "canonicalization":  # input pose and canonical pose, both drawn
            _wait_drawn(page, 2)


def _seed_with_atoms(checkpoint: Path, minimum: int) -> tuple[int, int]:
    """A seed whose single sample has at least ``minimum`` atoms (so the player has frames)."""
    model, _ = load_checkpoint(checkpoint)
    for seed in range(100):
        n = len(sample(model, SampleSettings(n=1, seed=seed, cfg_scale=2.0, batch_size=16)).molecules[0])
        if n >= minimum:
            return seed, n
    pytest.fail("the tiny model never sampled a molecule with enough atoms")


def _generate(pg, server: str, n: int, seed: int) -> float:
    """Generate n molecules; seconds from the click to the first drawn viewer frame (polled with
    canvas screenshots of ~0.25 s each, so the figure is good to about a quarter second)."""
    pg.goto(server)
    pg.get_by_role("heading", name="Generate", level=1).wait_for()
    _wait_idle(pg)
    for label, value in (("Seed", seed), ("Number of molecules", n)):
        box = pg.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        _wait_idle(pg, quiet_s=0.5)
    pg.locator("h1").first.screenshot()  # the first screenshot of a page costs ~1-2 s; pay it before timing
    t0 = time.perf_counter()
    pg.get_by_role("button", name="Generate", exact=True).click()
    _wait_drawn(pg, 1)
    return time.perf_counter() - t0


def test_generate_draws_the_trajectory_and_the_player_steps(page, server, tiny_checkpoint, capsys):
    seed, atoms = _seed_with_atoms(tiny_checkpoint, 4)
    cold = _generate(page, server, 1, seed)  # the server's first sampling call and 3Dmol.js load
    viewer = page.frame_locator("iframe").first
    overlay = viewer.locator(".overlay")
    steps = SampleSettings().polish_steps  # the polish's frames follow the atom-by-atom ones
    overlay.filter(has_text=f"polish {steps} / {steps}").wait_for(timeout=30_000)  # autoplay reaches the end
    viewer.locator("input[type=range]").evaluate("s => { s.value = 0; s.dispatchEvent(new Event('input')); }")
    overlay.filter(has_text=f"step 1 / {atoms}").wait_for(timeout=5_000)
    last = viewer.locator("input[type=range]").evaluate("s => s.max")
    assert int(last) == atoms + steps - 1  # one frame per placed atom, then one per polish step
    assert page.locator("[data-testid=stException]").count() == 0

    timings = {"first_frame_1_cold": (1, cold), "first_frame_1": (1, _generate(page, server, 1, seed)),
               "first_frame_16": (16, _generate(page, server, 16, seed))}
    assert page.locator("[data-testid=stException]").count() == 0
    # the grid of 2-D drawings: one SVG per molecule; its "3D" button opens that molecule in the player
    page.locator(".mol2d img").nth(15).wait_for(timeout=30_000)
    assert page.locator(".mol2d img").count() == 16
    assert page.locator(".mol2d img").nth(0).evaluate("i => i.complete && i.naturalWidth > 0")  # the SVG decoded
    page.get_by_role("button", name="3D", exact=True).nth(1).click()
    picker = page.get_by_role("combobox", name="Show molecule")  # a selectbox: its value is the input's
    deadline = time.time() + 30
    while not picker.input_value().startswith("#2 ·"):
        assert time.time() < deadline, f"the grid's 3D button did not open molecule #2: {picker.input_value()!r}"
        time.sleep(0.2)
    _wait_drawn(page, 1)
    assert page.locator("[data-testid=stException]").count() == 0
    with capsys.disabled():
        print()
        for name, (_, seconds) in timings.items():
            print(f"BROWSER_TIMING {name}={seconds:.2f} s")
    if os.environ.get("INERTIALAR_RECORD_TIMING") == "1":
        TIMING_CSV.parent.mkdir(parents=True, exist_ok=True)
        with TIMING_CSV.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["measure", "molecules", "seconds", "model", "browser", "machine"])
            for name, (n, seconds) in timings.items():
                model = os.environ.get("INERTIALAR_TIMING_CHECKPOINT") or "tiny random (tests/conftest.py)"
                w.writerow([name, n, f"{seconds:.2f}", model,
                            "chromium headless, SwiftShader WebGL", f"{os.cpu_count()} CPU cores"])


def test_an_upload_over_the_limit_is_refused_and_the_error_names_the_file_in_use(page, server):
    """The uploader refuses a file over 5 MB (the label's limit is the server's: .streamlit/config.toml)
    in the browser, without a rerun, so the file before it stays in use: its error names it."""
    page.goto(f"{server}/canonicalization")
    page.get_by_role("heading", name="Canonicalization lab", level=1).wait_for()
    _wait_idle(page)
    page.get_by_text("Upload XYZ/SDF", exact=True).click()
    _wait_idle(page)
    upload = page.locator("input[type=file]")
    upload.set_input_files(files=[{"name": "bad.xyz", "mimeType": "chemical/x-xyz", "buffer": b"not a molecule"}])
    page.get_by_text("bad.xyz: line 1: expected an atom count").wait_for()
    _wait_idle(page)
    big = b"1\n\nC 0 0 0\n" + b" " * (6 * 2**20)
    upload.set_input_files(files=[{"name": "big.xyz", "mimeType": "chemical/x-xyz", "buffer": big}])
    page.get_by_text("File must be 5.0MB or smaller").wait_for(timeout=30_000)
    assert page.get_by_text("is refused by the browser before it is sent").count() == 1
    assert page.get_by_text("In use: bad.xyz").count() == 1  # the message below belongs to the named file
    assert page.locator("[data-testid=stException]").count() == 0


def test_two_sessions_generating_together_each_get_their_own_molecules(browser, server, tiny_checkpoint,
                                                                        tiny_polisher_checkpoint):
    """Both clicks reach the shared sampling service together; each page's XYZ download holds the
    molecules of its own seed sampled (and polished) alone (benchmarks/app_load.py does this for 1/5/10 sessions)."""
    model, _ = load_checkpoint(tiny_checkpoint)
    polisher, _ = load_polisher(tiny_polisher_checkpoint)
    pages = []
    for seed in (5, 6):
        pg = browser.new_context(viewport={"width": 1400, "height": 1600}, accept_downloads=True).new_page()
        pg.set_default_timeout(60_000)
        pg.goto(server)
        pg.get_by_role("heading", name="Generate", level=1).wait_for()
        _wait_idle(pg)
        box = pg.get_by_label("Seed", exact=True)
        box.fill(str(seed))
        box.press("Enter")
        _wait_idle(pg, quiet_s=0.5)
        pages.append((seed, pg))
    for _, pg in pages:
        pg.get_by_role("button", name="Generate", exact=True).click()
    for seed, pg in pages:
        with pg.expect_download() as info:
            pg.get_by_role("button", name="Download XYZ (all)").click()  # the polished molecules
        got = parse_xyz(Path(info.value.path()).read_text())
        alone = sample(model, SampleSettings(n=4, seed=seed, cfg_scale=2.0, batch_size=16), polisher=polisher).molecules
        assert [m.elements for m in got] == [m.elements for m in alone]
        assert all(np.abs(a.coords - b.coords).max() <= REPRO_ATOL for a, b in zip(got, alone))
        assert pg.locator("[data-testid=stException]").count() == 0
        pg.context.close()


def test_every_page_works_on_the_drug_like_checkpoint(browser, moses_server):
    """Generate, the lab (on caffeine), the Failure inspector and Model & benchmarks with the shipped
    MOSES model: molecules drawn, no exception box, the sidebar names the drug-like data."""
    pg = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
    pg.set_default_timeout(90_000)
    pg.goto(moses_server)
    pg.get_by_role("heading", name="Generate", level=1).wait_for()
    _wait_idle(pg)
    assert pg.get_by_text("drug-like (MOSES, MMFF94 conformers)", exact=False).count() >= 1
    box = pg.get_by_label("Number of molecules", exact=True)
    box.fill("2")
    box.press("Enter")
    _wait_idle(pg, quiet_s=0.5)
    pg.get_by_role("button", name="Generate", exact=True).click()
    _wait_drawn(pg, 1, timeout_s=180)
    _wait_idle(pg)
    assert pg.locator("[data-testid=stException]").count() == 0

    pg.goto(f"{moses_server}/canonicalization")
    pg.get_by_role("heading", name="Canonicalization lab", level=1).wait_for()
    _wait_idle(pg)
    pg.get_by_text("Example molecule", exact=True).click()
    _wait_idle(pg)
    pg.get_by_text("SMILES CC(=O)Oc1ccccc1C(=O)O", exact=False).wait_for()  # aspirin, the first example
    pg.get_by_role("combobox", name="Example", exact=True).click()  # a selectbox: a combobox input
    pg.get_by_role("option", name="caffeine (MOSES)").click()
    _wait_idle(pg)
    pg.get_by_text("SMILES Cn1cnc2c1c(=O)n(C)c(=O)n2C", exact=False).wait_for()
    _wait_drawn(pg, 2)
    assert pg.locator("[data-testid=stException]").count() == 0

    pg.goto(f"{moses_server}/failures")
    pg.get_by_role("heading", name="Failure inspector", level=1).wait_for()
    _wait_idle(pg)
    box = pg.get_by_label("Number of molecules", exact=True)
    box.fill("4")
    box.press("Enter")
    _wait_idle(pg, quiet_s=0.5)
    pg.get_by_role("button", name="Generate batch", exact=True).click()
    _wait_idle(pg, timeout_s=240)
    assert pg.locator("[data-testid=stException]").count() == 0
    pg.get_by_text("4 molecules · valence", exact=False).wait_for()

    pg.goto(f"{moses_server}/benchmarks")
    pg.get_by_role("heading", name="Model & benchmarks", level=1).wait_for()
    _wait_idle(pg)
    pg.get_by_role("tab", name="Drug-like (MOSES)").click()
    pg.get_by_text("MOSES test subset, own MMFF94 conformers (reference)", exact=False).filter(visible=True).first.wait_for()
    assert pg.locator("[data-testid=stException]").count() == 0
    pg.context.close()
