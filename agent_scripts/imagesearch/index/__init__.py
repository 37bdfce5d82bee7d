"""The index version format and its search: vectors, exact scan, LSH, recall, manifest, storage."""
