"""``designsvc import FILE --problem KIND``: a user's file of a kind's own format becomes a
spec that validates; bad files and formats give a message and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from designsvc.cli import app


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


CSV = "name,rows,dim,pooling_factor,zipf_alpha\nuser_id,2000000,64,1,0.9\nitem_id,500000,128,12.5,1.1\ncat,1000,16,3,\n"


def test_table_statistics_csv_and_json_import_to_valid_specs(tmp_path: Path) -> None:
    csv_path = tmp_path / "tables.csv"
    csv_path.write_text(CSV)
    json_path = tmp_path / "tables.json"
    json_path.write_text(
        json.dumps(
            {
                "tables": [{"name": "a", "rows": 1000, "dim": 32, "pooling_factor": 2.0}],
                "num_devices": 2,
                "memory_gb": 1.0,
            }
        )
    )
    for path, names in ((csv_path, ["user_id", "item_id", "cat"]), (json_path, ["a"])):
        result = cli("import", str(path), "--problem", "table-sharding")
        assert result.exit_code == 0, result.output
        spec = json.loads(result.stdout)
        assert spec["problem"] == "table-sharding@1"
        assert [t["name"] for t in spec["instance"]["tables"]] == names
        assert f"imported:{path.stem}" in spec["tags"]
        spec_path = tmp_path / f"{path.stem}-spec.json"
        spec_path.write_text(result.stdout)
        checked = cli("validate", str(spec_path))
        assert checked.exit_code == 0, checked.output
    assert (
        json.loads(cli("import", str(json_path), "--problem", "table-sharding").stdout)["instance"]["num_devices"] == 2
    )


def test_import_errors_name_the_row_column_or_format(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,rows,dim,pooling_factor\nt0,100,16,-1\n")
    result = cli("import", str(bad), "--problem", "table-sharding")
    assert result.exit_code == 2
    assert "table t0, column 'pooling_factor'" in result.output
    result = cli("import", str(bad), "--problem", "network-planning")
    assert result.exit_code == 2
    assert "cannot import the format 'csv'" in result.output
    result = cli("import", str(tmp_path / "none.csv"), "--problem", "table-sharding")
    assert result.exit_code == 2
    assert "no such file" in result.output
    result = cli("import", str(bad), "--problem", "table-sharding", "--format", "xlsx")
    assert result.exit_code == 2
    assert "imports: csv, json" in result.output
