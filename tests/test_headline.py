import pandas as pd
import pytest

from qvedbench.report.headline import HEADLINE_COLUMNS, read_headlines, write_headline


def row(**kw):
    base = {"question": "rq1_1_1", "model": "m", "measure": "exercise_accuracy", "value": 0.5, "ci_low": 0.4,
            "ci_high": 0.6, "n": 10, "failed": 0, "better": "higher"}
    return {**base, **kw}


def test_roundtrip(tmp_path):
    path = tmp_path / "headline.csv"
    write_headline(path, [row(), row(model="k", value=None, ci_low=None, ci_high=None, note="no predictions")])
    frame = read_headlines([path])
    assert list(frame.columns) == list(HEADLINE_COLUMNS)
    assert frame.loc[0, "value"] == 0.5 and frame.loc[0, "detail"] == ""
    assert pd.isna(frame.loc[1, "value"]) and frame.loc[1, "note"] == "no predictions"


@pytest.mark.parametrize("bad, field", [
    (row(better="more"), "better"),
    (row(value="high"), "value"),
    (row(model=""), "model"),
    (row(value=None), "note"),
    ({**row(), "extra": 1}, "extra"),
])
def test_bad_rows_name_the_row_and_field(tmp_path, bad, field):
    with pytest.raises(ValueError, match=rf"row 1.*{field}|row 1: unknown field\(s\) {field}"):
        write_headline(tmp_path / "h.csv", [row(), bad])
    assert not (tmp_path / "h.csv").exists()


def test_missing_column_names_the_file(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("question,model\nq,m\n")
    with pytest.raises(ValueError, match=str(path)):
        read_headlines([path])
