"""The only 3Dmol/HTML glue: molecules and trajectories → one deterministic, offline iframe.

py3Dmol writes the viewer script; this module adds what a trajectory needs and py3Dmol lacks:

* **Local 3Dmol.js.** The script tag points at ``app/static/3Dmol-min.js`` (Streamlit static
  serving, relative to the iframe's same-origin ``srcdoc``), never a CDN.
* **Deterministic HTML.** py3Dmol names each viewer after ``time.time()``, so the iframe would
  reload on every Streamlit rerun; the name is replaced by a hash of the content.
* **Frames + player.** All frames live in one model (``addModelsAsFrames``, one XYZ block per
  frame, atom counts may differ); a small player (play/pause, step slider, speed) in plain JS
  steps through them, and an HTML overlay shows the step counter (3Dmol's screen-space labels
  do not render reliably).
* **Overlay.** An optional second pose (e.g. the refined geometry) drawn as thin green sticks in
  its own model; it has no frames, so the player keeps stepping through the first model only.
* **Inertial axes.** Three arrows I1 ≤ I2 ≤ I3 from ``centre`` along the rows of ``axes`` (the
  canonical frame's x, y, z by default), labelled at their tips; an oblique default camera so
  that none of them points at the viewer.
* **Newest atom.** A translucent lemon-yellow halo per frame (``addSphere`` with ``frame``), so the atom
  keeps its element colour and magenta stays the inspector's "valence failure".

No user-supplied text reaches the HTML: molecules are written as element symbols (validated by
``Molecule``) and numbers; captions are built by the pages from the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import py3Dmol
import streamlit as st

from inertialar.chem.molecule import Molecule
from inertialar.sampling.trajectory import Trajectory

JS_URL = "app/static/3Dmol-min.js"  # relative: resolved against the Streamlit server's origin
AXIS_COLORS = ("#d62728", "#2ca02c", "#1f77b4")  # I1 red, I2 green, I3 blue
NEWEST_COLOR = "#fff200"  # lemon halo: unlike the inspector's failure colours, the elements (F is goldenrod) and axes
NEWEST_HALO = {"radius": 0.62, "opacity": 0.45}  # Å; around the atom, which keeps its element colour
OVERLAY_COLOR = "#00a86b"  # the overlaid (refined) pose
# Oblique default camera (screen-axis rotations, degrees): 3Dmol looks straight down z (= I3 in the
# canonical frame), which draws that axis as a dot; tilted, I1, I2 and I3 all show their length.
CAMERA_TILT = ((-60, "vx"), (30, "vy"))
_PLACEHOLDER = "UNIQUEID"  # py3Dmol's own placeholder for the viewer name


@dataclass(frozen=True)
class Highlight:
    """Atoms (indices into a frame) drawn as larger spheres of ``color``; ``label`` goes in the legend."""

    atoms: tuple[int, ...]
    color: str
    label: str


def trajectory_frames(traj: Trajectory) -> tuple[list[Molecule], list[str]]:
    """One molecule per placed atom (frame k holds atoms 0..k), then one per polish step where the
    molecule was polished, and a caption per frame."""
    elements, eos = traj.elements, len(traj.elements)
    n_atoms = int(np.sum(traj.types != eos))
    frames, captions = [], []
    for k in range(n_atoms):
        types = traj.types[: k + 1]
        frames.append(Molecule(tuple(elements[int(t)] for t in types), traj.coords[: k + 1]))
        what = "prefix atom" if k < traj.n_prefix else "placed"
        p = float(traj.probs[k, int(types[k])])
        captions.append(f"step {k + 1} / {n_atoms} · {what} {elements[int(types[k])]} (p = {p:.2f})"
                        + (" · then EOS" if k == n_atoms - 1 and traj.finished else ""))
    if traj.polish_path is not None:  # the polish: every atom settles at once, frame by frame
        symbols = tuple(elements[int(t)] for t in traj.types[:n_atoms])
        last = len(traj.polish_path) - 1
        for j in range(1, last + 1):
            frames.append(Molecule(symbols, traj.polish_path[j]))
            captions.append(f"polish {j} / {last} · all {n_atoms} atoms settle" + (" · final" if j == last else ""))
    return frames, captions


def trajectory_xyz(traj: Trajectory, title: str = "") -> str:
    """Multi-frame XYZ text, one frame per step (for download and for 3Dmol)."""
    frames, captions = trajectory_frames(traj)
    return "".join(Molecule(f.elements, f.coords, f"{title} {c}".strip()).to_xyz() for f, c in zip(frames, captions))


def _frames_xyz(frames: Sequence[Molecule]) -> str:
    """XYZ blocks without titles (so no free text reaches the HTML)."""
    out = []
    for mol in frames:
        out.append(f"{len(mol)}\n\n")
        out += [f"{e} {x:.4f} {y:.4f} {z:.4f}\n" for e, (x, y, z) in zip(mol.elements, mol.coords)]
    return "".join(out)


def _axis_lengths(frames: Sequence[Molecule], axes: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(3,) Å: each arrow reaches a little beyond the atoms' extent along its axis."""
    coords = np.concatenate([f.coords for f in frames])  # (M, 3) Å
    extent = np.abs((coords - centre) @ axes.T).max(0)  # (3,) Å
    return np.maximum(extent + 0.8, 1.2)


def viewer_html(
    frames: Sequence[Molecule],
    *,
    captions: Sequence[str] | None = None,
    highlights: Sequence[Sequence[Highlight]] | None = None,
    newest: bool = False,
    axes: np.ndarray | None = None,
    centre: np.ndarray | None = None,
    show_axes: bool = True,
    atom_labels: Sequence[tuple[int, str]] = (),
    height: int = 400,
    start: str = "first",
    autoplay: bool = False,
    overlay: Molecule | None = None,
    overlay_label: str = "refined pose",
) -> str:
    """A self-contained HTML page showing ``frames`` (≥ 1) in one 3Dmol viewer.

    captions: per-frame overlay text (default "frame k / n"); highlights: per-frame atom groups;
    newest: mark the last atom of every frame (a trajectory's freshly placed atom); axes (3, 3)
    rows I1, I2, I3 and centre (3,) Å in the frames' coordinates (default: the canonical frame,
    identity at the origin), drawn when ``show_axes``; atom_labels (index, text) for
    the last frame; start: "first" or "last" frame shown before playing; overlay: a static second
    pose in the same coordinates, shown on every frame and named ``overlay_label`` in the legend.
    """
    if not frames:
        raise ValueError("viewer_html needs at least one frame")
    n = len(frames)
    captions = list(captions) if captions is not None else [f"frame {k + 1} / {n}" for k in range(n)]
    if len(captions) != n:
        raise ValueError(f"{len(captions)} captions for {n} frames")
    v = py3Dmol.view(width="100%", height=height, js=JS_URL)
    v.addModelsAsFrames(_frames_xyz(frames), "xyz")
    v.setStyle({}, {"stick": {"radius": 0.12}, "sphere": {"scale": 0.25}})
    legend: dict[str, str] = {}
    for k in range(n):
        groups = list(highlights[k]) if highlights is not None else []
        if newest:
            legend["newest atom (halo)"] = NEWEST_COLOR
            v.addSphere({"center": _xyz(frames[k].coords[-1]), "color": NEWEST_COLOR, "frame": k, **NEWEST_HALO})
        for h in groups:
            legend[h.label] = h.color
            for i in h.atoms:
                v.setStyle({"frame": k, "index": int(i)},
                           {"stick": {"radius": 0.12}, "sphere": {"scale": 0.42, "color": h.color}})
    if show_axes:
        ax = np.eye(3) if axes is None else np.asarray(axes, dtype=float)
        c = np.zeros(3) if centre is None else np.asarray(centre, dtype=float)
        lengths = _axis_lengths(frames, ax, c)
        for k in range(3):
            tip = c + lengths[k] * ax[k]
            v.addArrow({"start": _xyz(c), "end": _xyz(tip), "radius": 0.05, "radiusRatio": 2.2,
                        "mid": 0.85, "color": AXIS_COLORS[k]})
            v.addLabel(f"I{k + 1}", {"position": _xyz(c + (lengths[k] + 0.35) * ax[k]), "fontSize": 13,
                                     "fontColor": "white", "backgroundColor": AXIS_COLORS[k],
                                     "backgroundOpacity": 0.85, "inFront": True})
        legend.update({f"I{k + 1} axis": AXIS_COLORS[k] for k in range(3)})
    if overlay is not None:  # a separate model after all frame styles, so they never apply to it
        v.addModel(_frames_xyz([overlay]), "xyz")
        v.setStyle({"model": 1}, {"stick": {"radius": 0.07, "color": OVERLAY_COLOR, "opacity": 0.8}})
        legend[overlay_label] = OVERLAY_COLOR
    last = frames[-1]
    for i, text in atom_labels:
        v.addLabel(text, {"position": _xyz(last.coords[int(i)]), "fontSize": 11, "fontColor": "black",
                          "backgroundColor": "#ffffcc", "backgroundOpacity": 0.8, "inFront": True,
                          "frame": n - 1})
    v.setFrame(n - 1)  # zoom to the complete molecule, then show the start frame
    v.zoomTo()
    for angle, axis in CAMERA_TILT:
        v.rotate(angle, axis)
    v.zoom(0.9)
    v.setFrame(0 if start == "first" else n - 1)
    return _page(v.write_html(), v.uniqueid, captions, legend, height, autoplay, start == "first")


def _xyz(p: np.ndarray) -> dict[str, float]:
    return {"x": round(float(p[0]), 4), "y": round(float(p[1]), 4), "z": round(float(p[2]), 4)}


_VIEWER_CONFIG = '{backgroundColor:"white"}'  # py3Dmol's createViewer config, extended in _page
# Antialiasing only on a hardware renderer: under software WebGL (SwiftShader, llvmpipe — machines
# without a GPU, headless browsers) 3Dmol's multisampling cost ~10× the rest of the drawing and,
# with ten browsers on one 2-core machine, starved the other pages for 20 s (benchmarks/app_load.py).
_GL_PROBE_JS = """
function inertialarHardwareGL() {
  try {
    var gl = document.createElement("canvas").getContext("webgl");
    if (!gl) return false;
    var info = gl.getExtension("WEBGL_debug_renderer_info");
    var name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    var lose = gl.getExtension("WEBGL_lose_context"); if (lose) lose.loseContext();
    return !/swiftshader|llvmpipe|softpipe|software|basic render/i.test(name);
  } catch (e) { return false; }
}
"""

_CSS = """
body{margin:0;font-family:sans-serif;font-size:13px;color:#222}
.wrap{position:relative}
.overlay{position:absolute;top:6px;left:8px;z-index:10;background:rgba(255,255,255,.85);padding:2px 6px;
 border-radius:4px;pointer-events:none}
.legend{position:absolute;bottom:6px;left:8px;z-index:10;background:rgba(255,255,255,.85);padding:2px 6px;
 border-radius:4px;pointer-events:none}
.legend span{display:inline-block;width:10px;height:10px;border-radius:50%;margin:0 3px 0 8px;vertical-align:middle}
.player{display:flex;gap:8px;align-items:center;padding:4px 2px}
.player input[type=range]{flex:1}
"""

_PLAYER_JS = """
$3Dmolpromise.then(function() {
  var v = viewer_ID, caps = CAPTIONS, n = caps.length, k = START, timer = null;
  var ov = document.getElementById("ov_ID"), sl = document.getElementById("sl_ID"),
      btn = document.getElementById("pl_ID"), sp = document.getElementById("sp_ID");
  function show(i) {
    k = Math.max(0, Math.min(n - 1, i));
    v.setFrame(k).then(function() { v.render(); });
    ov.textContent = caps[k]; if (sl) sl.value = k;
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } if (btn) btn.textContent = "\\u25B6 play"; }
  function play() {
    stop(); if (k >= n - 1) show(0);
    if (btn) btn.textContent = "\\u2016 pause";
    timer = setInterval(function() { if (k >= n - 1) { stop(); return; } show(k + 1); },
                        500 / parseFloat(sp ? sp.value : "1"));
  }
  if (btn) btn.onclick = function() { timer ? stop() : play(); };
  if (sl) sl.oninput = function() { stop(); show(parseInt(sl.value)); };
  if (sp) sp.onchange = function() { if (timer) play(); };
  document.body.dataset.frames = n;
  show(k);
  if (AUTOPLAY && n > 1) play();
});
"""


def _page(body: str, py3dmol_id: str, captions: list[str], legend: dict[str, str], height: int,
          autoplay: bool, from_start: bool) -> str:
    """Wrap py3Dmol's HTML with overlay, legend and player; name everything by a content hash."""
    body = body.replace(py3dmol_id, _PLACEHOLDER)
    if _VIEWER_CONFIG not in body:
        raise RuntimeError("py3Dmol's viewer setup changed: cannot set antialiasing")
    body = body.replace(_VIEWER_CONFIG, '{backgroundColor:"white",antialias:inertialarHardwareGL()}')
    n = len(captions)
    start = 0 if from_start else n - 1
    legend_html = "".join(f'<span style="background:{escape(c)}"></span>{escape(label)}' for label, c in legend.items())
    controls = (f'<div class="player"><button id="pl_{_PLACEHOLDER}">&#9654; play</button>'
                f'<input type="range" id="sl_{_PLACEHOLDER}" min="0" max="{n - 1}" value="{start}" step="1">'
                f'<select id="sp_{_PLACEHOLDER}" title="playback speed"><option value="0.5">0.5×</option>'
                '<option value="1" selected>1×</option><option value="2">2×</option><option value="4">4×</option>'
                '</select></div>') if n > 1 else ""
    script = (_PLAYER_JS.replace("viewer_ID", f"viewer_{_PLACEHOLDER}").replace("_ID", f"_{_PLACEHOLDER}")
              .replace("CAPTIONS", json.dumps(captions).replace("</", "<\\/"))
              .replace("START", str(start)).replace("AUTOPLAY", "true" if autoplay else "false"))
    html = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{_CSS}</style><script>{_GL_PROBE_JS}</script></head><body>'
            f'<div class="wrap" style="height:{height}px">{body}'
            f'<div class="overlay" id="ov_{_PLACEHOLDER}">{escape(captions[start])}</div>'
            f'<div class="legend">{legend_html}</div></div>{controls}<script>{script}</script></body></html>')
    digest = hashlib.sha256(html.encode()).hexdigest()[:16]
    return html.replace(_PLACEHOLDER, digest)


def frame_count(html: str) -> int:
    """Number of frames in a viewer page (counted from its XYZ data; used by tests and pages)."""
    start = html.index("addModelsAsFrames(") + len("addModelsAsFrames(")
    text, _ = json.JSONDecoder().raw_decode(html[start:])
    lines, k, frames = text.splitlines(), 0, 0
    while k < len(lines):
        k += 2 + int(lines[k])
        frames += 1
    return frames


def show(html: str, height: int = 400) -> None:
    """Put a viewer page in the Streamlit app (iframe: srcdoc, same origin, local 3Dmol.js)."""
    extra = 44 if 'class="player"' in html else 8
    st.iframe(html, height=height + extra)
