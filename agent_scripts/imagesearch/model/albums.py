"""The album-folder walk: one subfolder per album, its files the album's images.

The one walk the index build and the publisher both use (docs/contracts.md, Keys), so the keys the
index names are the keys the gallery holds. The rule:

- hidden entries (names starting with ".") are ignored silently, at both levels;
- files directly inside the images folder are not in an album: skipped and reported;
- folders inside an album folder are not descended into: skipped and reported;
- album and file names are made safe with `keys.safe_album` / `keys.safe_name`; when two entries
  end up with the same safe name, the first in name order keeps it and the later one is skipped
  and reported (`duplicate_key`), never silently overwritten;
- an album folder without files is not an album.

Skipped entries are reported as {"where", "reason", "message"}, the build report's form.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from imagesearch.errors import SearchError
from imagesearch.keys import album_key, gallery_key, safe_album, safe_name


@dataclass(frozen=True)
class AlbumFile:
    """One file of an album: where it is on disk and its safe album and file names."""

    path: Path
    album: str
    name: str

    @property
    def gallery_key(self) -> str:
        """Its key in the gallery bucket, `gallery/<album>/<file>`."""
        return gallery_key(self.album, self.name)

    @property
    def album_key(self) -> str:
        """Its key in the site bucket, `albums/<album>/<file>`."""
        return album_key(self.album, self.name)


@dataclass
class AlbumWalk:
    """The albums found (safe name -> files, both in name order) and the entries skipped."""

    albums: dict[str, list[AlbumFile]] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)

    def files(self) -> list[AlbumFile]:
        """Every file of every album, album by album."""
        return [f for files in self.albums.values() for f in files]


def _visible(folder: Path) -> list[os.DirEntry]:
    """A folder's entries in name order, hidden ones left out."""
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def _skip(walk: AlbumWalk, path: str, reason: str, message: str) -> None:
    walk.skipped.append({"where": path, "reason": reason, "message": message})


def walk_albums(images_dir: str | os.PathLike) -> AlbumWalk:
    """The albums under `images_dir` by the rule above; bad_request when the folder does not exist."""
    root = Path(images_dir)
    if not root.is_dir():
        raise SearchError("bad_request", f"images folder {images_dir} does not exist")
    walk = AlbumWalk()
    for entry in _visible(root):
        if not entry.is_dir():
            _skip(walk, entry.path, "not_in_album", "not inside an album folder")
            continue
        album = safe_album(entry.name)
        if album in walk.albums:
            _skip(walk, entry.path, "duplicate_key", f"another album folder's safe name is also {album!r}")
            continue
        files: list[AlbumFile] = []
        names: set[str] = set()
        for f in _visible(Path(entry.path)):
            if not f.is_file():
                _skip(walk, f.path, "not_in_album", "nested folders are not albums")
                continue
            name = safe_name(f.name)
            if name in names:
                _skip(walk, f.path, "duplicate_key", f"another file's safe name is also {name!r}")
                continue
            names.add(name)
            files.append(AlbumFile(Path(f.path), album, name))
        if files:
            walk.albums[album] = files
    return walk
