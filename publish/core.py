"""publish_all: every step in order, for the CLI and for the local stack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from publish.agent import publish_agent
from publish.cache_warm import WarmReport, warm_cache, warm_counts
from publish.collection import DEFAULT_PER_ALBUM, album_hashes, publish_albums, publish_gallery
from publish.duplicates import publish_duplicates
from publish.index import live_version, publish_index, remove_stale_results
from publish.site import publish_site
from publish.uploader import DEFAULT_CONCURRENCY, Counts
from publish.weights import publish_weights, resolve_weights


@dataclass
class Report:
    """Counts per step, in the order the steps ran."""

    steps: dict[str, Counts] = field(default_factory=dict)
    warm: WarmReport | None = None
    removed_results: int = 0  # results/ copies deleted because their keys left the index
    duplicate_groups: int | None = None  # groups in duplicates.json (None: not written)

    @property
    def total(self) -> Counts:
        """All steps added up."""
        return sum(self.steps.values(), Counts())

    def lines(self) -> list[str]:
        """One human line per step."""
        lines = [f"{name:8} {counts}" for name, counts in self.steps.items()]
        if self.duplicate_groups is not None:
            lines.append(f"{'':8} duplicates.json: {self.duplicate_groups} groups of near-duplicates")
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
    cache_warm: str = "all",
    cache_dir: Path | None = None,
    index_step: Callable[..., Counts] = publish_index,
    site_config: dict[str, str] | None = None,
) -> Report:
    """Publish gallery, weights, agent, index, cache, duplicates, albums and site in that order.

    The gallery goes first because the index names its keys; the result cache is warmed for the
    live index before albums.json lists the images, so every album image answers from the cache;
    albums.json carries the index's summary; the site goes last so a page never points at albums
    that are not there yet. cache_warm: "all" (every indexed image), "albums" or "off".
    index_step: publish_index (built here) or publish.reindex.reindex_step's (featurized on Lambda).
    site_config: more config.js fields (the local stack's `localReindex`; none when deployed).
    """
    report = Report()
    common = {"progress": progress, "concurrency": concurrency}
    report.steps["gallery"] = publish_gallery(s3, gallery_bucket, images_dir, **common)
    if weights is None:
        # The engine's default (IMAGESEARCH_WEIGHTS, "pretrained") goes through the same path as
        # --weights: never an index whose weights the instance would have to find elsewhere.
        from imagesearch import settings

        weights = settings.load().weights
    weights = resolve_weights(weights)
    if weights is not None and Path(weights).is_file():
        # The instance loads only the weights the manifest names, from this bucket: a local file is
        # verified, uploaded to models/ under its hash, and the index is built from that copy.
        report.steps["weights"], key = publish_weights(s3, gallery_bucket, Path(weights), **common)
        weights = f"s3://{gallery_bucket}/{key}"
    if agent:
        report.steps["agent"] = publish_agent(s3, gallery_bucket, **common)
    if index:
        before = live_version(s3, gallery_bucket)
        report.steps["index"] = index_step(
            s3, gallery_bucket, images_dir, weights=str(weights) if weights else None, progress=progress,
            **(index_options or {}),
        )
        # Images that left the index leave the public bucket too (docs/contracts.md, results/).
        report.removed_results = remove_stale_results(s3, gallery_bucket, site_bucket, before)
    collected: list = []  # the duplicate groups the warm-up joins from its own top 10 (issue 23)

    def observer(index):
        from imagesearch.ops.duplicates import collector_for

        collector = collector_for(index)
        collected.append(collector)
        return collector.observe if collector is not None else None

    if cache_warm != "off":
        hashes = album_hashes(images_dir, per_album) if cache_warm == "albums" else None
        # The warm-up fetches the live version's arrays; the index build's work folder may hold them.
        work = cache_dir or (index_options or {}).get("work_dir")
        warmed = warm_cache(s3, gallery_bucket, work_dir=work, hashes=hashes, progress=progress,
                            concurrency=concurrency, observer=observer if hashes is None else None)
        report.steps["cache"] = warm_counts(warmed)
        report.warm = warmed
    if index:
        # Beside albums.json: the near-duplicate groups of the live version (issue 23).
        work = cache_dir or (index_options or {}).get("work_dir")
        # The warm-up's groups count only when it searched every image (not skipped, not albums only).
        full = bool(report.warm and not report.warm.skipped and cache_warm == "all" and collected)
        from_warm = collected[-1] if full else None
        report.steps["dups"], doc = publish_duplicates(s3, site_bucket, gallery_bucket, images_dir,
                                                       work_dir=work, collected=from_warm)
        report.duplicate_groups = len(doc["groups"]) if doc else None
    report.steps["albums"] = publish_albums(s3, site_bucket, gallery_bucket, images_dir,
                                            concurrency=concurrency)
    report.steps["site"] = publish_site(s3, site_bucket, Path(site_dir), api_url, config=site_config,
                                          **common)
    return report
