"""The README's engine example, run command by command, so it cannot go stale."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def engine_example() -> list[list[str]]:
    """The commands of the first sh block under '## The engine', comments dropped."""
    section = README.read_text().split("## The engine", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_readme_engine_example_runs(tmp_path):
    # GIVEN the README's commands, each run without a shell by the same interpreter's CLI
    commands = engine_example()
    assert [c[0] for c in commands] == ["imagesearch"] * len(commands)
    outputs = []
    for command in commands:
        # WHEN each runs in an empty folder
        proc = subprocess.run([sys.executable, "-m", "imagesearch.cli", *command[1:]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        # THEN it succeeds
        assert proc.returncode == 0, f"{shlex.join(command)}\n{proc.stdout}\n{proc.stderr}"
        outputs.append(proc.stdout)
    answer = json.loads(outputs[2])
    assert answer["ok"] is True and len(answer["results"]) == 5
    assert all(r["key"].startswith("gallery/") for r in answer["results"])
    # add replaced same-named images and remove dropped the marble album: info counts the rest
    names = {(p.parent.name, p.name) for p in tmp_path.glob("*/*/*.png") if p.parent.name != "marble"}
    assert json.loads(outputs[-1])["manifest"]["count"] == len(names)
