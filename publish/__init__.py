"""Publish the site, gallery, index and agent bundle to the stack's buckets."""
