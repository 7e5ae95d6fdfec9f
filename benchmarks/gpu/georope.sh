#!/usr/bin/env bash
# The GeoRoPE ablation in one GPU window (≤ 10 min command): the seven runs of benchmarks/georope_ablation.py
# (five variants at seed 0, the default at seeds 1 and 2) train side by side on the one GPU, the same steps of
# the same batch size each, so every run sees the same training tokens (STEPS × BATCH padded tokens; 800 × 32,768
# ≈ 12 epochs of QM9, 10.7× the CPU answer's 600 × 4,096: enough for the distance-kernel weights α to leave zero).
# Each run is stopped after BUDGET seconds (SIGTERM: it saves and logs), so what trained always comes back; a
# run that did not reach STEPS is refused by the scoring (and the script exits 1).
#   on the device machine, from the repo root, with the packed QM9 data in .gpu_data
#   (python -m inertialar data pack --dest .gpu_data; carry .gpu_data):
#   OUT=$OUT bash benchmarks/gpu/georope.sh
# Brings back $OUT/georope/<run>/{ema.pt,log.jsonl} (≈ 4 MB each; the resumable states stay behind, too big
# to travel) and $OUT/georope_logs.tar.gz. Score them here on the CPU (RDKit), same STEPS and BATCH, from a
# writable copy (scores are cached in each run's folder):
#   cp -r FILES_AT/georope ~/.cache/inertialar/runs/georope_gpu
#   python benchmarks/georope_ablation.py --steps 800 --batch-tokens 32768 --runs-dir ~/.cache/inertialar/runs/georope_gpu --tag _gpu
# CPU rehearsal (seconds of training, then each run's final evaluation):
#   DEVICE=cpu STEPS=3 BATCH=1024 THREADS=1 OUT=/tmp/o bash benchmarks/gpu/georope.sh
set -u
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the benchmark script imports the package from the repo root
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-800}
BATCH=${BATCH:-32768}
THREADS=${THREADS:-2}
EVAL_EVERY=${EVAL_EVERY:-0.75}
BUDGET=${BUDGET:-480}
WORK=${WORK:-/tmp/inertialar_georope_${STEPS}x${BATCH}}  # per budget: a rehearsal's runs are never resumed here
RUNS="default_s0 rope_only_s0 nystrom_only_s0 exact_s0 neither_s0 default_s1 default_s2"
mkdir -p "$WORK" "$OUT/georope"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
pids=""
for run in $RUNS; do
  timeout --signal=TERM "$BUDGET" $PY benchmarks/georope_ablation.py --device "$DEVICE" --data .gpu_data \
      --steps "$STEPS" --batch-tokens "$BATCH" --threads "$THREADS" --eval-every "$EVAL_EVERY" \
      --runs-dir "$WORK/runs" --only "$run" > "$WORK/$run.txt" 2>&1 &
  pids="$pids $!"
done
failed=0
for p in $pids; do wait "$p" || failed=1; done
for run in $RUNS; do
  mkdir -p "$OUT/georope/$run"
  for f in ema.pt log.jsonl; do
    [ -e "$WORK/runs/$run/$f" ] && cp "$WORK/runs/$run/$f" "$OUT/georope/$run/"
  done
done
tar -czf "$OUT/georope_logs.tar.gz" -C "$WORK" --exclude='runs' .
tail -n 2 "$WORK"/*.txt
ls -la "$OUT/georope"/*
[ "$failed" = 0 ] || echo "a run failed or stopped early: see the logs above"
exit "$failed"
