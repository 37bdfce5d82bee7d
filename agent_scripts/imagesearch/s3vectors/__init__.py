"""Amazon S3 Vectors as the index backend: its writes, its queries and the sync of a version."""
