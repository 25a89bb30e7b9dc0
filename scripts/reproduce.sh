#!/usr/bin/env bash
# Regenerate results/: train every experiment, keep each run's summary.json and
# scalars.csv in results/runs/<experiment>/<run>/, then rebuild every table, figure,
# the claims report and the results index (results/README.md) from them.
#
#   scripts/reproduce.sh                      the CPU suite: every experiment at the length its file
#                                             sets, but those whose file's `# Suite:` line leaves
#                                             them out (docs/budget.md), each named on stderr
#   scripts/reproduce.sh mnist_fig1 sigmoid10 only these (the others' runs stay); a left-out one
#                                             named here trains, with a note on stderr
#   scripts/reproduce.sh --list [...]         print what the command line would train, and the
#                                             left-out experiments with their reasons; train nothing
#   scripts/reproduce.sh --set mnist_fig1:train.steps=10000 --why "..." --out DIR
#                                             stated reductions, recorded in the index; never into
#                                             results/ (a reduced scale there is a committed profile,
#                                             conf/profile/, chosen by the experiment file)
#   scripts/reproduce.sh --quick              the whole pipeline in ~7 minutes (2-core CPU): every experiment
#                                             (left-out ones too), 20 steps, synthetic data, 2 seeds;
#                                             writes runs/quick-results
#                                             (CI runs this), never results/; it measures nothing, so
#                                             it trains two experiments at once (REPRODUCE_QUICK_JOBS),
#                                             each one's output printed when it ends
#   --out DIR                                 where results go (default: results)
#
# The device is bnrepro's default (device=auto): the GPU when there is one. Per
# experiment it records the wall time, the device, the settings, the commit the runs
# trained at and the last commit of the experiment file (its claims) in
# results/runs/<experiment>/reproduce.json, which the tables and the index show; and, to
# measure alone (2 cores: a second job halves the speed), the 1-minute load average before
# and after each experiment and the cores other processes kept busy meanwhile: it warns
# when the load is above 1 at the start, or others used more than 0.1 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BNREPRO=${BNREPRO:-$([ -x .venv/bin/bnrepro ] && echo .venv/bin/bnrepro || echo bnrepro)}
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}

quick=0; list=0; out=""; why=""; experiments=(); declare -A extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --set) extra[${2%%:*}]="${extra[${2%%:*}]:-} ${2#*:}"; shift ;;
    --why) why=$2; shift ;;
    --list) list=1 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    -*) echo "reproduce.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) experiments+=("$1") ;;
  esac
  shift
done
# Suite membership (bnrepro/config/suite.py): NAME<TAB>why, one line per left-out experiment; a
# `# Suite:` line outside the grammar stops here, before anything trains
left_out=$("$PYTHON" -m bnrepro.config.suite left-out conf/experiment) || exit 2
declare -A out_of_suite=()
while IFS=$'\t' read -r name reason; do [ -z "$name" ] || out_of_suite[$name]=$reason; done <<< "$left_out"
if [ ${#experiments[@]} -eq 0 ]; then
  for name in $(ls conf/experiment | sed -n 's/\.yaml$//p'); do
    # --quick trains every experiment: CI tests the whole pipeline, left-out ones included
    if [ $quick = 0 ] && [ -n "${out_of_suite[$name]:-}" ]; then
      # --list prints the left-out ones itself, with their reasons
      [ $list = 1 ] || echo "reproduce.sh: not training $name (${out_of_suite[$name]}): name it to train it" >&2
    else
      experiments+=("$name")
    fi
  done
else
  for name in "${experiments[@]}"; do
    [ -z "${out_of_suite[$name]:-}" ] || echo "reproduce.sh: note: training $name because it was named," \
      "though its file leaves it out of the CPU suite (${out_of_suite[$name]})" >&2
  done
fi
for name in "${experiments[@]}"; do
  [ -f "conf/experiment/$name.yaml" ] || { echo "reproduce.sh: no conf/experiment/$name.yaml" >&2; exit 2; }
done
if [ $list = 1 ]; then  # what this command line would train, and what the suite leaves out
  echo "trains (${#experiments[@]}): ${experiments[*]}"
  echo "left out of the CPU suite (${#out_of_suite[@]}; each trains when named, and in --quick):"
  for name in $(printf '%s\n' "${!out_of_suite[@]}" | sort); do echo "  $name: ${out_of_suite[$name]}"; done
  exit 0
fi
if [ $quick = 1 ]; then
  out=${out:-runs/quick-results}
  QUICK="data=synthetic train.steps=20 train.eval_every=10 train.log_every=10 probes.hist_every=0 seed=1,2"
else
  out=${out:-results}
  QUICK=""
fi
if [ ${#extra[@]} -gt 0 ] && [ "$(realpath -m "$out")" = "$(realpath -m results)" ]; then
  echo "reproduce.sh: --set changes an experiment's settings, and results/ holds no command-line reductions:" \
       "commit a profile (conf/profile/NAME_KIND.yaml, chosen in the experiment file), or write elsewhere with --out DIR" >&2
  exit 2
fi
load() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0; }
busy() { awk -v l="$1" 'BEGIN { exit !(l > 1.0) }'; }
# CPU seconds the whole machine spent busy (all cores), and this shell's children (the
# training) spent: their difference over an experiment is what other processes used. The
# load average cannot tell them apart: the training's own threads raise it to 1 or 2.
machine_cpu() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT  # `times` output; --quick's per-experiment logs
own_cpu() {  # sets OWN; `times` must run in this shell (a pipe or $(...) would be a subshell)
  local file="$tmp/times.$BASHPID"  # this shell's own ($BASHPID inside $(...) is the subshell's)
  times > "$file"
  OWN=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$file")
}
start_load=$(load)
! busy "$start_load" || echo "reproduce.sh: warning: load average $start_load at the start (2 cores):" \
  "something else is running; results measured now are not comparable (measure alone)" >&2
# results/ is excluded as bnrepro's own provenance excludes it: a regeneration writes there as it goes
if [ $quick = 0 ] && [ -n "$(git status --porcelain --untracked-files=no -- . ':(exclude)results' 2>/dev/null)" ]; then
  echo "reproduce.sh: warning: the source tree has uncommitted changes: every summary will say dirty: true" >&2
fi
work=runs/reproduce  # relative: the runs' recorded commands name no machine's paths
[ $quick = 0 ] || work=runs/reproduce-quick

train_one() {  # NAME: train it, keep its runs in $out/runs/NAME/ with its reproduce.json
  local name=$1
  settings="${extra[$name]:-}"
  overrides="$QUICK $settings"
  echo "=== $name: $(date -u +%T) bnrepro train +experiment=$name $overrides" >&2
  rm -rf "${work:?}/$name"
  load_before=$(load)
  machine_before=$(machine_cpu); own_cpu; own_before=$OWN
  start=$(date +%s)
  # shellcheck disable=SC2086  # the overrides are words
  "$BNREPRO" train "+experiment=$name" out_dir="$work" $overrides
  wall=$(( $(date +%s) - start ))
  load_after=$(load)
  # cores other processes kept busy on average while it trained (0: measured alone)
  own_cpu
  others=$(awk -v m0="$machine_before" -v m1="$(machine_cpu)" -v o0="$own_before" -v o1="$OWN" -v w="$wall" \
    'BEGIN { x = ((m1 - m0) - (o1 - o0)) / (w > 0 ? w : 1); printf "%.2f", (x > 0 ? x : 0) }')
  # (--quick never measures, and trains two experiments at once: no warning there)
  [ $quick = 0 ] && awk -v x="$others" 'BEGIN { exit !(x > 0.1) }' && echo "reproduce.sh: warning: other" \
    "processes kept $others cores busy while $name trained (2 cores): not measured alone, its wall time is" \
    "not comparable" >&2
  sweep=$(ls -d "$work/$name"/*/ | tail -1)
  rm -rf "${out:?}/runs/$name"
  mkdir -p "$out/runs/$name"
  cp "$sweep/planned_runs.json" "$out/runs/$name/"
  for run in "$sweep"*/; do
    [ -f "$run/summary.json" ] || continue
    mkdir -p "$out/runs/$name/$(basename "$run")"
    cp "$run/summary.json" "$run/scalars.csv" "$out/runs/$name/$(basename "$run")/"
  done
  stated=$(sed -n 's/^# Runtime: *//p' "conf/experiment/$name.yaml")
  # Provenance of the claims: the commit the runs trained at, and the last commit that changed
  # the experiment file (or the file it inherits its claims from, `defaults: - NAME`) before it.
  files=("conf/experiment/$name.yaml")
  parent=$(sed -n 's/^  - \([a-z0-9_]*\)$/\1/p' "conf/experiment/$name.yaml" | head -1)
  [ -z "$parent" ] || [ ! -f "conf/experiment/$parent.yaml" ] || files+=("conf/experiment/$parent.yaml")
  files+=($(ls conf/profile/"$name"_*.yaml 2>/dev/null || true))  # its profiles set its length
  commit=$(git rev-parse HEAD 2>/dev/null || true)
  claims_commit=$(git log -1 --format=%H -- "${files[@]}" 2>/dev/null || true)
  "$PYTHON" - "$out/runs/$name" "$wall" "$stated" "$why" "$commit" "$claims_commit" "$load_before" "$load_after" \
    "$others" $overrides <<'EOF'
import json, pathlib, sys
folder, wall, stated, why, commit, claims_commit, before, after, others, *overrides = sys.argv[1:]
summaries = [json.loads(p.read_text()) for p in pathlib.Path(folder).glob("*/summary.json")]
devices = sorted({s["device_name"] for s in summaries})
record = {"device": ", ".join(devices), "wall_s": int(wall), "overrides": overrides, "stated_runtime": stated,
          "load_before": float(before), "load_after": float(after), "others_cores": float(others)}
processes = sorted({s["processes"] for s in summaries if "processes" in s})  # packs at once (launch/schedule.py)
if processes:
    record["processes"] = processes
if overrides:
    record["why"] = why or "not stated"
record.update({k: v for k, v in (("commit", commit), ("claims_commit", claims_commit)) if v})
(pathlib.Path(folder) / "reproduce.json").write_text(json.dumps(record, indent=1) + "\n")
EOF
  echo "=== $name done in ${wall}s" >&2
}

if [ $quick = 0 ] || (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 501 )); then  # wait -p: bash 5.1
  for name in "${experiments[@]}"; do train_one "$name"; done
else
  # --quick never measures: its experiments train two at once (REPRODUCE_QUICK_JOBS), each on
  # one intra-op thread, each one's output in its own log, printed whole when it ends; any
  # experiment that fails fails the script, after the others have finished.
  declare -A running=(); failed=()
  reap() {  # wait for one experiment to end, print its log, remember a failure
    local pid rc=0
    wait -n -p pid || rc=$?
    local name=${running[$pid]}; unset "running[$pid]"
    echo "=== $name: $( [ $rc = 0 ] && echo finished || echo "FAILED (exit status $rc)" ); its output:" >&2
    sed 's/^/  /' "$tmp/$name.log" >&2
    [ $rc = 0 ] || failed+=("$name")
  }
  for name in "${experiments[@]}"; do
    [ ${#running[@]} -lt "${REPRODUCE_QUICK_JOBS:-2}" ] || reap
    echo "=== $name: started $(date -u +%T)" >&2
    ( export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}; train_one "$name" ) > "$tmp/$name.log" 2>&1 &
    running[$!]=$name
  done
  while [ ${#running[@]} -gt 0 ]; do reap; done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "reproduce.sh: --quick: ${#failed[@]} experiment(s) failed: ${failed[*]} (their output is above)" >&2
    exit 1
  fi
fi

# An experiment's figures are all rebuilt below, but a redesign can stop drawing one (placement's
# test_acc.png, 7 Dec): remove every figure of the experiments with runs first, so none outlives
# the runs it was drawn from (placement_*.png also matches placement_deep's: rebuilt too)
for run_dir in "$out"/runs/*/; do rm -f "$out/$(basename "$run_dir")"_*.png; done
# --force: these runs replaced the ones the curated tables were built from, on purpose
"$BNREPRO" table "$out"/runs/* --out "$out" --force
"$BNREPRO" figures "$out"/runs/* --out "$out" --force
"$BNREPRO" report --results "$out"
