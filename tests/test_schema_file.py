"""schema.graphql is generated from the code and committed; a stale copy fails the build."""

from __future__ import annotations

import difflib

from watchparty.migrations import ROOT
from watchparty.schema import export_sdl

SCHEMA_FILE = ROOT / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.exists(), "schema.graphql is missing: run `watchparty export-schema`"
    committed = SCHEMA_FILE.read_text()
    current = export_sdl()
    if committed != current:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                current.splitlines(keepends=True),
                "schema.graphql (committed)",
                "export_sdl() (code)",
                n=1,
            )
        )
        raise AssertionError(
            "schema.graphql is stale: run `watchparty export-schema` (or `make schema`) "
            f"and commit it.\n{diff[:4000]}"
        )
