"""The featurize function's modules (app, batch, model, request, settings, shard), imported once
for every test of the folder (tests/unit/lambda_helpers/function_modules)."""

from __future__ import annotations

from function_modules import featurize_modules

fn = featurize_modules()
