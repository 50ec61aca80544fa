"""`make mutation`: mutation testing of the training-critical modules with mutmut.

mutmut names modules after their path below the working folder (stripping only `src/`), so the
run happens in a staging copy, `.mutation/`, where `codes/` is called `src/` and
`mutants/codes` links to the mutated `mutants/src`: tests and the scripts they start import
the mutated package. mutmut runs, per mutant, only the tests that called the mutated function
(recorded once, in its stats run), fastest first, stopping at the first failure.

The staging folder is kept between runs: mutmut then re-tests only functions whose code (or
whose tests) changed. The report goes to docs/mutation.md (and .mutation/report.md): the score,
and every survivor with the reason it is left, either its kind (KINDS below) or its entry in
tests/mutation/accepted_survivors.yml. A survivor with neither makes the run fail.

    python tests/mutation/run_mutation.py [--fresh] [--only PATTERN ...] [--prune]
"""
import argparse
import ast
import difflib
import glob
import os
import re
import shutil
import subprocess
import sys
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGE = os.path.join(REPO, ".mutation")
ACCEPTED = os.path.join(REPO, "tests", "mutation", "accepted_survivors.yml")
REPORT_PAGE = os.path.join(REPO, "docs", "mutation.md")
MUTMUT = os.path.join(os.path.dirname(sys.executable), "mutmut")

# The training path: losses, models (steps, optimisers, schedules), noise pool, datasets' crops,
# MATLAB resize, tiling, self-ensemble, metrics, checkpoints / resume / RNG, option loading.
MODULES = [
    "src/rwsr/losses/*.py",
    "src/rwsr/models/*.py",
    "src/rwsr/data/noise_pool.py",
    "src/rwsr/data/transforms.py",
    "src/rwsr/data/paired_dataset.py",
    "src/rwsr/utils/imresize.py",
    "src/rwsr/inference/tiling.py",
    "src/rwsr/inference/ensemble.py",
    "src/rwsr/metrics/psnr_ssim.py",
    "src/rwsr/metrics/image_metrics.py",
    "src/rwsr/engine/checkpoints.py",
    "src/rwsr/engine/resume.py",
    "src/rwsr/engine/rng.py",
    "src/rwsr/archs/network_files.py",
    "src/rwsr/options/loader.py",
]
# Not mutated, each for a reason:
# - statements and helpers that only word an error or log message (tests check each error by its
#   key, file and exit code, not letter by letter);
# - lines that only run on CUDA: the machines that run this have no GPU (bench/bench_gpu.py
#   checks those paths on one);
# - text encodings and thread-pool sizes, which change neither results nor files here.
NOT_MUTATED = [r"raise \w*Error\(", r"logger(\(\))?\.(debug|info|warning|error)\(", r"warnings\.warn\(",
               r"cuda", r"encoding=", r"ThreadPoolExecutor\("]
# Whole functions not mutated: they only word messages, or (the datasets' file listing and size
# checks) are tested as errors, not as the crops this run is about. The staging copy marks them
# with mutmut's `# pragma: no mutate block`, so the sources stay free of tool comments.
NOT_MUTATED_FUNCTIONS = {"_fix_hint", "_unsafe_reason", "_suggest", "_type_name", "_sample", "_group_by_module",
                         "describe", "_collect", "_check_sizes"}
# Tests that only start other processes (their in-process part would be charged to every
# mutant of the functions it calls) or check packaging, and the end-to-end runs (training loops,
# command lines, layout): each mutated function has unit tests of its own, and a surviving mutant
# runs every selected test that calls its function, so these would cost most of the hour.
NOT_SELECTED = ["test_train_ddp.py", "test_train_resume.py", "test_demo_pipeline.py", "test_packaging.py",
                "test_ablation.py", "test_prep_entry_points.py", "test_onnx.py", "test_docs.py",
                "test_train_engine.py", "test_test_cli.py", "test_demo_camera.py", "test_bench_scripts.py",
                "test_layers.py"]
COPIED = ["codes", "tests", "options", "preprocess", "bench", "figures", "docs", "experiments", "pytest.ini",
          "README.md", "Makefile", "requirements.txt", "setup.py"]


def stage_sources():
    """Copy the repository into .mutation/ (codes/ as src/); keep mutmut's cache in .mutation/mutants."""
    os.makedirs(STAGE, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_tmp")
    for name in COPIED:
        source = os.path.join(REPO, name)
        target = os.path.join(STAGE, "src" if name == "codes" else name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        if os.path.isdir(source):
            shutil.copytree(source, target, ignore=ignore)
        elif os.path.exists(source):
            shutil.copy2(source, target)
    for pattern in MODULES:
        for path in glob.glob(os.path.join(STAGE, pattern)):
            mark_not_mutated(path)
    os.makedirs(os.path.join(STAGE, "mutants"), exist_ok=True)
    link = os.path.join(STAGE, "mutants", "codes")
    if not os.path.islink(link):
        os.symlink("src", link)


def mark_not_mutated(path):
    """Append `# pragma: no mutate block` to the header of each NOT_MUTATED_FUNCTIONS function."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    lines = text.split("\n")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.name in NOT_MUTATED_FUNCTIONS:
            colon_line = node.body[0].lineno - 2  # the header ends on the line before the body
            while not lines[colon_line].rstrip().endswith(":"):
                colon_line -= 1
            lines[colon_line] = lines[colon_line].rstrip() + "  # pragma: no mutate block"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def write_config(only):
    selection = ["tests"] + [f"--ignore=tests/{name}" for name in NOT_SELECTED]
    lines = ["[mutmut]", "source_paths = src", "only_mutate ="]
    lines += [f"    {pattern}" for pattern in (only or MODULES)]
    lines += ["do_not_mutate_patterns ="] + [f"    {pattern}" for pattern in NOT_MUTATED]
    lines += ["also_copy ="] + [f"    {name}" for name in COPIED if name not in ("codes", "tests")]
    lines += ["pytest_add_cli_args_test_selection ="] + [f"    {arg}" for arg in selection]
    lines += ["process_isolation = forkserver", ""]
    with open(os.path.join(STAGE, "setup.cfg"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def run_mutmut(names=()):
    # one thread per worker: mutmut runs one mutant per core at a time
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run([MUTMUT, "run", *names], cwd=STAGE, env=env).returncode


def mutmut_output(*args):
    return subprocess.run([MUTMUT, *args], cwd=STAGE, capture_output=True, text=True).stdout


def collect_statuses():
    """{mutant name: status} of every mutant (killed ones included)."""
    statuses = {}
    for line in mutmut_output("results", "--all", "true").splitlines():
        match = re.match(r"\s*(\S+): (.+)$", line)
        if match:
            statuses[match.group(1)] = match.group(2).strip()
    return statuses


def mutant_changes(names):
    """{mutant: its removed and added lines}, read from mutmut's mutated sources (faster than `mutmut show`)."""
    sources = {}
    changes = {}
    for name in names:
        module, _, mangled = name.split("__mutmut_")[0].rpartition(".")
        if module not in sources:
            path = os.path.join(STAGE, "mutants", "src", *module.split(".")) + ".py"
            text = open(path, encoding="utf-8").read()
            sources[module] = {node.name: ast.get_source_segment(text, node) for node in ast.walk(ast.parse(text))
                               if isinstance(node, ast.FunctionDef)}
        functions = sources[module]
        # both versions named f, so that a changed default argument shows on the def line
        original, mutant = mangled + "__mutmut_orig", name.rpartition(".")[2]
        original = functions.get(original, "").replace(original, "f", 1).splitlines()
        mutated = functions.get(mutant, "").replace(mutant, "f", 1).splitlines()
        diff = difflib.unified_diff(original, mutated, lineterm="", n=0)
        changes[name] = "\n".join(" ".join(line.split()) for line in diff
                                  if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return changes


def function_of(name):
    """rwsr.losses.gan.x_gradient_penalty__mutmut_6 -> rwsr.losses.gan.gradient_penalty."""
    base = name.split("__mutmut_")[0]
    module, _, function = base.rpartition(".")
    return f"{module}.{function.replace('xǁ', '').replace('ǁ', '.').removeprefix('x_')}"


# Survivors equivalent by kind, whatever the function: the changed lines are the same once the
# part the mutation touched is taken out.
_PLACEMENT = [r",?\s*device=(None|\w+ (or|and) [\w.]+|[\w.]+)", r",?\s*non_blocking=\w+",
              r"(?<=\.to\()(None|dev|device|self\.\w*device|\w+\.device),?\s*", r"\.pin_memory\(\)"]
_COPY_FLAG = [r",?\s*copy=(True|False|None)"]
# .view(1, 1, -1, 1) and .view(1, -1, 1) broadcast the same against a 4-D tensor
_LEADING_UNIT_DIMS = [r"(?<=\.view\()(1, )+"]
# shape[-2] and shape[+2], flip(-2) and flip(2) name the same axis of a 4-D (NCHW) tensor
_AXIS_SIGN = [r"(?<=shape\[)[-+]", r"(?<=flip\()[-+]", r"(?<=transpose\()[-+]"]
KINDS = {
    "placement": (_PLACEMENT, "equivalent on the CPU that runs the tests: only where a tensor lives changes "
                              "(device, .to(device), non_blocking, pinned memory); bench/bench_gpu.py runs these "
                              "paths on a GPU"),
    "copy flag": (_COPY_FLAG, "equivalent: only whether an array is copied changes, not its values"),
    "leading unit dimensions": (_LEADING_UNIT_DIMS, "equivalent: leading size-1 dimensions of a view change "
                                                    "nothing when it is broadcast against a 4-D tensor"),
    "default argument": ([], "accepted: only a default argument value changes, and no test calls the function "
                             "without that argument; the training code passes most of them from the option "
                             "schema (not the `download` flags, which matter only where the internet is "
                             "reachable, nor `source`, which only words messages)"),
    "axis sign": (_AXIS_SIGN, "equivalent: the tensors there are always 4-D (NCHW), where axis 2 and axis -2 "
                              "are the same"),
}


def _strip(line, patterns):
    for pattern in patterns:
        line = re.sub(pattern, "", line)
    line = re.sub(r",\s*\)", ")", re.sub(r"\(\s*,\s*", "(", line))  # the commas a removed argument leaves
    return " ".join(line[1:].split())


def kind_of(change):
    """The kind of equivalence a change belongs to, or None."""
    removed = [line for line in change.splitlines() if line.startswith("-")]
    added = [line for line in change.splitlines() if line.startswith("+")]
    if not removed or len(removed) != len(added):
        return None
    if all(line.startswith("-def f(") for line in removed):
        return "default argument"
    for kind, (patterns, _) in KINDS.items():
        if all(_strip(a, patterns) == _strip(b, patterns) for a, b in zip(removed, added)):
            return kind
    return None


def load_accepted():
    if not os.path.exists(ACCEPTED):
        return []
    with open(ACCEPTED, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or []


def _normalised(change):
    return " ".join(change.split())


def reason_for(function, change, accepted):
    """Why a survivor is equivalent or accepted: its kind, or its entry in accepted_survivors.yml."""
    kind = kind_of(change)
    if kind:
        return KINDS[kind][1]
    for entry in accepted:
        if entry["function"] == function and _normalised(change) in {_normalised(c) for c in entry["changes"]}:
            return f"{entry['status']}: {entry['reason']}"
    return None


def stale_entries(accepted, survivors):
    """accepted_survivors.yml changes that match no survivor (killed now, or the code changed)."""
    alive = {(function, _normalised(change)) for function, change in survivors}
    return [(entry["function"], change) for entry in accepted for change in entry["changes"]
            if (entry["function"], _normalised(change)) not in alive]


def prune_accepted(accepted, stale):
    """Rewrite accepted_survivors.yml without the stale changes (entries left empty go)."""
    stale = {(function, _normalised(change)) for function, change in stale}
    kept = []
    for entry in accepted:
        changes = [c for c in entry["changes"] if (entry["function"], _normalised(c)) not in stale]
        if changes:
            kept.append(dict(entry, changes=changes))
    with open(ACCEPTED, encoding="utf-8") as handle:
        header = "".join(line for line in handle if line.startswith("#"))
    with open(ACCEPTED, "w", encoding="utf-8") as handle:
        handle.write(header + yaml.safe_dump(kept, sort_keys=False, allow_unicode=True, width=120))


def run_minutes():
    """Minutes of the last whole run, and of a survivors-only re-test made after it (or None)."""
    whole = os.path.join(STAGE, "minutes.txt")
    again = os.path.join(STAGE, "survivors_minutes.txt")
    with open(whole) as handle:
        minutes = float(handle.read())
    if os.path.exists(again) and os.path.getmtime(again) > os.path.getmtime(whole):
        with open(again) as handle:
            return minutes, float(handle.read())
    return minutes, None


def survivor_changes(statuses):
    """{surviving mutant: its change}, in name order."""
    return mutant_changes(sorted(name for name, status in statuses.items() if status not in DETECTED))


def write_report(statuses, changes, minutes, retest_minutes=None):
    """changes: survivor_changes(statuses)."""
    accepted = load_accepted()
    by_module = {}
    for name, status in statuses.items():
        module = name.split("__mutmut_")[0].rpartition(".")[0]
        by_module.setdefault(module, {}).setdefault(status, 0)
        by_module[module][status] += 1
    listed, unlisted = {}, []
    for name, change in changes.items():
        function = function_of(name)
        reason = reason_for(function, change, accepted)
        if reason:
            listed.setdefault(reason, []).append((function, change))
        else:
            unlisted.append((name, function, change))
    stale = stale_entries(accepted, [(function_of(name), change) for name, change in changes.items()])
    killed = sum(1 for status in statuses.values() if status in DETECTED)
    total = len(statuses)
    lines = ["# Mutation testing", "",
             "Generated by `make mutation` (tests/mutation/run_mutation.py); see contributing.md.", "",
             f"{killed} of {total} mutants killed ({100.0 * killed / max(total, 1):.1f}%) in {minutes:.0f} "
             f"minutes on this machine" + (f", then {retest_minutes:.0f} minutes re-testing survivors after tests "
                                           f"were added" if retest_minutes is not None else "") +
             f"; {sum(map(len, listed.values()))} survivors listed below with the reason each "
             f"is equivalent or accepted, {len(unlisted)} not listed.", "",
             "| module | " + " | ".join(STATUS_ORDER) + " |", "| --- |" + " ---: |" * len(STATUS_ORDER)]
    for module in sorted(by_module):
        counts = by_module[module]
        lines.append(f"| {module} | " + " | ".join(str(counts.get(status, 0)) for status in STATUS_ORDER) + " |")
    if unlisted:
        lines += ["", "## Survivors not listed as equivalent or accepted", ""]
        for name, function, change in unlisted:
            lines += [f"- `{function}` ({statuses[name]})", "", "```diff", change, "```", ""]
    if stale:
        lines += ["", "## Entries of accepted_survivors.yml that match no survivor", "",
                  "Killed now or changed code; `run_mutation.py --report_only --prune` removes them.", ""]
        lines += [f"- `{function}`: `{' / '.join(change.splitlines())}`" for function, change in stale]
    lines += ["", "## Survivors and why they are left", ""]
    for reason, entries in sorted(listed.items()):
        lines += [f"### {reason}", ""]
        for function, change in entries:
            lines += [f"- `{function}`: `{' / '.join(change.splitlines())}`"]
        lines.append("")
    report = os.path.join(STAGE, "report.md")
    for path in (report, REPORT_PAGE):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines).rstrip() + "\n")
    return report, killed, total, unlisted, stale


# A mutant that makes a test hang (timeout) is detected as surely as one that fails it.
DETECTED = ("killed", "timeout")
STATUS_ORDER = ["killed", "survived", "timeout", "no tests", "suspicious", "skipped", "not checked"]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Mutation testing of the training path (mutmut).")
    parser.add_argument("--fresh", action="store_true", help="forget mutmut's cached results")
    parser.add_argument("--only", nargs="+", help="mutate only these src/... patterns (e.g. src/rwsr/losses/*.py)")
    parser.add_argument("--report_only", action="store_true", help="rewrite the report of the last run")
    parser.add_argument("--survivors", nargs="*", metavar="PART",
                        help="re-test only the last run's survivors (after adding tests), or those whose name "
                             "contains one of these parts; mutmut itself re-tests functions whose code changed")
    parser.add_argument("--prune", action="store_true",
                        help="remove accepted_survivors.yml changes that match no survivor of this run")
    args = parser.parse_args(argv)
    if not os.path.exists(MUTMUT):
        print(f"error: {MUTMUT} not found; pip install mutmut (a development tool)", file=sys.stderr)
        return 2
    earlier_run = os.path.exists(os.path.join(STAGE, "minutes.txt"))
    if (args.report_only or args.survivors is not None) and (args.fresh or not earlier_run):
        print("error: --report_only and --survivors need an earlier whole run in .mutation/; run make mutation "
              "first (and without --fresh)", file=sys.stderr)
        return 2
    if args.fresh and os.path.isdir(STAGE):
        shutil.rmtree(STAGE)
    start = time.monotonic()
    if not args.report_only:
        survivors = []
        if args.survivors is not None:
            survivors = sorted(name for name, status in collect_statuses().items() if status not in DETECTED
                               and (not args.survivors or any(part in name for part in args.survivors)))
            if not survivors:
                print("no survivors to re-test")
                return 0
        stage_sources()
        write_config(args.only)
        code = run_mutmut(survivors)
        if code != 0:
            print(f"error: mutmut exited with {code}", file=sys.stderr)
            return code
        # the report states the time of the last whole run; a survivors-only run is timed separately
        name = "survivors_minutes.txt" if args.survivors is not None else "minutes.txt"
        with open(os.path.join(STAGE, name), "w") as handle:
            handle.write(f"{(time.monotonic() - start) / 60:.1f}\n")
    minutes = run_minutes()
    statuses = collect_statuses()
    changes = survivor_changes(statuses)
    if args.prune:
        accepted = load_accepted()
        stale = stale_entries(accepted, [(function_of(name), change) for name, change in changes.items()])
        if stale:
            prune_accepted(accepted, stale)
    report, killed, total, unlisted, stale = write_report(statuses, changes, *minutes)
    print(f"{killed}/{total} killed ({100.0 * killed / max(total, 1):.1f}%); report: {report}")
    if stale:
        print(f"{len(stale)} changes in {ACCEPTED} match no survivor; --prune removes them", file=sys.stderr)
    if unlisted:
        print(f"{len(unlisted)} survivors are not listed in {ACCEPTED} (see the report)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
