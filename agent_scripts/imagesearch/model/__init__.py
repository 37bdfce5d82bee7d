"""Pixels to vectors: images, albums, sources, sample data, the featurize pipeline, ResNet-50, weights."""
