"""The imagesearch CLI: help everywhere, and a small build + query end to end."""

import json
import os
import subprocess
import sys

import pytest
from imagesearch.cli import main
from imagesearch.cli.parser import build_parser

COMMANDS = [
    [],
    ["sample-data"],
    ["index"],
    ["index", "build"],
    ["index", "add"],
    ["index", "remove"],
    ["index", "info"],
    ["index", "retable"],
    ["query"],
    ["weights"],
    ["weights", "fetch"],
    ["duplicates"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a) or "top")
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([*argv, "--help"])
    assert e.value.code == 0
    assert "usage: imagesearch" in capsys.readouterr().out


def _run(argv, capsys):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_sample_data_build_query_info(tmp_path, capsys):
    images, root = str(tmp_path / "images"), str(tmp_path / "idx")
    code, out = _run(["sample-data", "--out", images, "--count", "20", "--seed", "3"], capsys)
    assert code == 0 and out["count"] == 20 and len(out["albums"]) == 10
    code, report = _run(
        [
            "index",
            "build",
            "--images",
            images,
            "--out",
            root,
            "--weights",
            "seed:0",
            "--size",
            "32",
            "--tables",
            "4",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0 and report["count"] == 20 and report["weights"]["pretrained"] is False
    query = os.path.join(images, "wood", "wood_00000.png")
    code, answer = _run(["query", "--index", root, "--image", query, "--k", "3", "--mode", "exact"], capsys)
    assert code == 0 and answer["ok"] is True and len(answer["results"]) == 3
    assert all(r["key"].startswith("gallery/") for r in answer["results"])
    assert "gallery/wood/wood_00000.png" not in [r["key"] for r in answer["results"]]
    assert answer["index"]["mode"] == "exact" and answer["index"]["count"] == 20
    code, info = _run(["index", "info", "--index", root], capsys)
    assert (
        code == 0 and info["manifest"]["model"]["input_size"] == 32 and info["current"] == report["version"]
    )
    code, rm = _run(["index", "remove", "--index", root, "--key", "gallery/wood/wood_00000.png"], capsys)
    assert code == 0 and rm["removed"] == 1 and rm["count"] == 19
    code, rt = _run(["index", "retable", "--index", root, "--tables", "2", "--bits", "3"], capsys)
    assert code == 0 and rt["count"] == 19 and rt["parent"] == rm["version"]
    code, info = _run(["index", "info", "--index", root], capsys)
    assert info["manifest"]["lsh"]["tables"] == 2 and info["manifest"]["lsh"]["bits"] == 3


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["query", "--index", "{root}", "--image", "{root}/nothing.png", "--k", "3"], "not_found"),
        (["query", "--index", "{root}", "--image", "{bad}", "--k", "3"], "index_unavailable"),
        (["index", "info", "--index", "{root}"], "index_unavailable"),
        (["index", "remove", "--index", "{root}"], "bad_request"),
    ],
)
def test_errors_print_the_error_json(tmp_path, capsys, argv, code):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"x")
    argv = [a.format(root=str(tmp_path / "idx"), bad=str(bad)) for a in argv]
    status, out = _run(argv, capsys)
    assert status == 1 and out["ok"] is False and out["error"]["code"] == code


def test_the_parser_does_not_load_mxnet():
    # Building the parser ran every command's defaults; one asked MXNet for its folder, so `health`,
    # `index info` and every other command paid MXNet's import (1.5 s) before doing anything.
    code = ("import sys; from imagesearch.cli.parser import build_parser; build_parser(); "
            "print('mxnet' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
