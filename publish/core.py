"""publish_all: every step in order, for the CLI and for the local stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from publish.agent import publish_agent, publish_weights, weights_key
from publish.collection import DEFAULT_PER_ALBUM, publish_albums, publish_gallery
from publish.index import albums_index_summary, live_version, publish_index, remove_stale_results
from publish.site import publish_site
from publish.uploader import DEFAULT_CONCURRENCY, Counts


@dataclass
class Report:
    """Counts per step, in the order the steps ran."""

    steps: dict[str, Counts] = field(default_factory=dict)
    removed_results: int = 0  # results/ copies deleted because their keys left the index

    @property
    def total(self) -> Counts:
        """All steps added up."""
        return sum(self.steps.values(), Counts())

    def lines(self) -> list[str]:
        """One human line per step."""
        lines = [f"{name:8} {counts}" for name, counts in self.steps.items()]
        if self.removed_results:
            lines.append(f"{'results':8} {self.removed_results} stale copies deleted")
        return lines


def publish_all(
    s3,
    *,
    site_bucket: str,
    gallery_bucket: str,
    api_url: str,
    site_dir: Path,
    images_dir: Path,
    weights: Path | str | None = None,
    per_album: int = DEFAULT_PER_ALBUM,
    index: bool = True,
    agent: bool = True,
    index_options: dict | None = None,
    progress: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Report:
    """Publish gallery, weights, agent, index, albums and site in that order; return the counts.

    The gallery goes first because the index names its keys; albums.json goes after the index
    because it carries the index's summary; the site goes last so a page never points at albums
    that are not there yet.
    """
    report = Report()
    common = {"progress": progress, "concurrency": concurrency}
    report.steps["gallery"] = publish_gallery(s3, gallery_bucket, images_dir, **common)
    if weights is not None and Path(weights).is_file():
        # The instance loads the weights the manifest names, so a local file is built from its
        # uploaded copy: s3://<gallery>/models/<file>.
        report.steps["weights"] = publish_weights(s3, gallery_bucket, Path(weights), **common)
        weights = f"s3://{gallery_bucket}/{weights_key(Path(weights))}"
    if agent:
        report.steps["agent"] = publish_agent(s3, gallery_bucket, **common)
    if index:
        before = live_version(s3, gallery_bucket)
        report.steps["index"] = publish_index(
            s3, gallery_bucket, images_dir, weights=str(weights) if weights else None, progress=progress,
            **(index_options or {}),
        )
        # Images that left the index leave the public bucket too (docs/contracts.md, results/).
        report.removed_results = remove_stale_results(s3, gallery_bucket, site_bucket, before)
    report.steps["albums"] = publish_albums(
        s3, site_bucket, images_dir, per_album=per_album,
        index=albums_index_summary(s3, gallery_bucket), **common,
    )
    report.steps["site"] = publish_site(s3, site_bucket, Path(site_dir), api_url, **common)
    return report
