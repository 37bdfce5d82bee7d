"""The duplicate finder's precision and recall (pairs and groups) on the generated near-duplicate set.

The evaluation half of imagesearch.model.near_duplicate_set (photographs scikit-image ships, copied:
re-encoded, resized to 1600 px, cropped, brightened, stored sideways, HEIC when the engine reads
it) is written as a gallery (one album per kind of copy), indexed with the given weights, and
the near-duplicate band is measured on the other half (the calibration photos), as publish
does. `imagesearch duplicates`' groups are then compared with the truth:

- pairs: every two images in one found group is a predicted pair; a true pair is two copies of
  one photo. Precision = true predicted pairs / predicted pairs; recall = found / true pairs.
- groups: a found group is right when it is exactly one photo's copies; group precision = right
  found groups / found groups, group recall = right found groups / photos.

Usage: python bench/duplicates_quality.py [--weights seed:0] [--weights FILE.params ...] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

from imagesearch.index.opened import OpenIndex
from imagesearch.model import near_duplicate_set as nds
from imagesearch.ops.build import build_index
from imagesearch.ops.duplicates import facts_from_folder, find_duplicates


def pairs_of(groups: list[list[str]]) -> set[tuple[str, str]]:
    """Every unordered pair within each group."""
    return {tuple(sorted(p)) for g in groups for p in itertools.combinations(g, 2)}


def score(found: list[list[str]], truth: list[list[str]]) -> dict:
    """Pair and group precision/recall of found groups against true groups."""
    predicted, true = pairs_of(found), pairs_of(truth)
    hit = len(predicted & true)
    exact = {tuple(sorted(g)) for g in found} & {tuple(sorted(g)) for g in truth}
    return {
        "pair_precision": round(hit / len(predicted), 4) if predicted else 1.0,
        "pair_recall": round(hit / len(true), 4) if true else 1.0,
        "predicted_pairs": len(predicted), "true_pairs": len(true),
        "group_precision": round(len(exact) / len(found), 4) if found else 1.0,
        "group_recall": round(len(exact) / len(truth), 4) if truth else 1.0,
        "found_groups": len(found), "true_groups": len(truth),
    }


def missed_and_wrong(found: list[list[str]], truth: list[list[str]]) -> dict:
    """Which true pairs were missed and which predicted pairs are wrong, by kind of copy."""
    predicted, true = pairs_of(found), pairs_of(truth)

    def kind(key: str) -> str:
        return key.split("/")[1]

    missed: dict[str, int] = {}
    for a, b in true - predicted:
        for k in {kind(a), kind(b)} - {"original"}:
            missed[k] = missed.get(k, 0) + 1
    wrong = sorted(f"{a.split('/')[-1]}~{b.split('/')[-1]}" for a, b in predicted - true)
    return {"missed_pairs_by_kind": dict(sorted(missed.items())), "wrong_pairs": wrong[:20]}


def measure(weights: str, work: Path, grey: bool = False) -> dict:
    """Build the evaluation gallery's index with `weights` and score its duplicate groups."""
    images = nds.generate("evaluation", grey=grey)
    gallery = work / "gallery"
    truth: dict[str, list[str]] = {}
    for image in images:
        # One album per kind of copy, as if each came from a different place.
        nds.write_set([image], str(gallery), album=image.variant)
        truth.setdefault(image.group, []).append(f"gallery/{image.variant}/{image.name}")
    started = time.perf_counter()
    report = build_index(str(gallery), str(work / "index"), weights=weights, cache_dir=str(work / "cache"),
                         near_duplicate_set=True)
    build_s = time.perf_counter() - started
    index = OpenIndex.open(str(work / "index"), cache_dir=str(work / "cache"))
    started = time.perf_counter()
    doc = find_duplicates(index, facts_from_folder(str(gallery)))
    found = [g["images"] for g in doc["groups"]]
    bands = index.manifest["bands"]
    return {
        "weights": weights,
        "grey": grey,
        "input_size": index.manifest["model"]["input_size"],
        "images": report["count"],
        "photos": len(truth),
        "variants": nds.describe(images, "evaluation")["variants"],
        "threshold": bands["near_duplicate"],
        "similar": bands["similar"],
        "calibration": {k: bands["near_duplicate_from"].get(k) for k in
                        ("min_positive", "max_negative", "pair_precision", "pair_recall")},
        **score(found, list(truth.values())),
        **missed_and_wrong(found, list(truth.values())),
        "build_s": round(build_s, 1),
        "duplicates_s": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", action="append", default=None,
                        help="weights to measure (repeatable; default seed:0): seed:N, a .params file, "
                             "pretrained")
    parser.add_argument("--with-grey", action="store_true",
                        help="also measure with the grey photos added to the evaluation gallery (the "
                             "calibration photos stay colour; the threshold moves with the index mean)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)
    if not nds.available():
        print("scikit-image is not installed (pip install -e '.[dev]')", file=sys.stderr)
        return 2
    results = []
    for weights in args.weights or ["seed:0"]:
        for grey in (False, True) if args.with_grey else (False,):
            with tempfile.TemporaryDirectory(prefix="dup-quality-") as tmp:
                results.append(measure(weights, Path(tmp), grey))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("| weights | grey photos | size | images | threshold | pair P | pair R | group P | group R "
          "| missed by kind |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['weights']} | {'yes' if r['grey'] else 'no'} | {r['input_size']} | {r['images']} | "
              f"{r['threshold']} | "
              f"{r['pair_precision']} | {r['pair_recall']} | {r['group_precision']} | {r['group_recall']} | "
              f"{r['missed_pairs_by_kind']} |")
    print(json.dumps(results, indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
