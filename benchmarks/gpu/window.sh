#!/usr/bin/env bash
# One GPU window (≤ 10 min command): a wide-head QM9 model, calibrated first, and a drug-like model beside it
# when its packed data travelled too.
#   on the device machine, from the repo root, with the packed data in .gpu_data
#   (python -m inertialar data pack --dest .gpu_data; and --dataset moses for the drug-like run):
#   MAIN_MIN=9 OUT=$OUT bash benchmarks/gpu/window.sh
# Main run: `window --calibrate CAL_S` measures tokens/s of the head/batch/compile candidates (CANDIDATES below,
# ~CAL_S seconds), picks the widest head that still trains ≥ 100 epochs and stays ≤ 45 MB in fp16
# (inertialar.training.window.pick), then trains it with random axis-sign flips (the overfitting remedy of
# benchmarks/results/remedies.md), the warm-up EMA and a cosine schedule over the remaining minutes.
# Outputs (each ≤ 15 MB): main_ema_fp16.pt[.partNN], drug_ema_fp16.pt[.partNN] if drug-like data, logs.tar.gz.
# The loader joins parts: load_checkpoint("main_ema_fp16.pt") reads main_ema_fp16.pt.part00, .part01, …
# CPU rehearsal (tests/test_train.py rehearses the calibration in seconds):
#   DEVICE=cpu MAIN_MIN=1 CAL_S=20 LIMIT="--limit-train 300" CANDIDATES="64x2@2560,96x2@2560" \
#       DRUG_CANDIDATES="64x2@5120" OUT=/tmp/o bash benchmarks/gpu/window.sh
set -u
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
MAIN_MIN=${MAIN_MIN:-9}
DRUG_MIN=${DRUG_MIN:-$MAIN_MIN}
CAL_S=${CAL_S:-45}
LIMIT=${LIMIT:-}
CANDIDATES=${CANDIDATES:-1024x6@65536+compile,1024x4@32768,640x4@32768}
MAIN_FLAGS=${MAIN_FLAGS:---flip-prob 0.5}
WORK=${WORK:-/tmp/inertialar_window}
mkdir -p "$WORK" "$OUT"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
common="--device $DEVICE --eval-every 1 $LIMIT"
# Trunk of the first window (width 256, 8 heads, exact kernel); the head and batch come from the calibration.
$PY -m inertialar window $common --data .gpu_data --minutes "$MAIN_MIN" --calibrate "$CAL_S" \
    --candidates "$CANDIDATES" --out "$WORK/main" --run-dir "$WORK/main_state" \
    --width 256 --heads 8 --distance-kernel exact $MAIN_FLAGS > "$WORK/main.txt" 2>&1 &
main=$!
drug=""
if [ -f .gpu_data/moses_train_v3.npz ]; then
  # Drug-like sequences are ~2.3× longer than QM9's: window.DRUG_CANDIDATES (larger token batches), unless
  # DRUG_CANDIDATES is set here (the CPU rehearsal uses tiny ones).
  drug_cands=${DRUG_CANDIDATES:+--candidates $DRUG_CANDIDATES}
  $PY -m inertialar window $common --dataset moses --data .gpu_data --minutes "$DRUG_MIN" --calibrate "$CAL_S" \
      $drug_cands --out "$WORK/drug" --run-dir "$WORK/drug_state" \
      --width 256 --heads 8 --distance-kernel exact $MAIN_FLAGS > "$WORK/drug.txt" 2>&1 &
  drug=$!
else
  echo "no drug-like data in .gpu_data (data pack --dataset moses --dest .gpu_data): QM9 only"
fi
wait $main
[ -n "$drug" ] && wait "$drug"
for run in main drug; do
  for f in "$WORK/$run"/ema_fp16.pt*; do
    [ -e "$f" ] && cp "$f" "$OUT/${run}_$(basename "$f")"
  done
done
tar -czf "$OUT/logs.tar.gz" -C "$WORK" --exclude='*.pt' --exclude='*.pt.part*' --exclude='*_state' .
tail -n 3 "$WORK"/*.txt
ls -la "$OUT"
