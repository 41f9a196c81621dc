"""One design-review report: ranked risks, a section per area, provenance, offline HTML, the CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

import labkit as lk
from labkit.cli import main
from labkit.errors import ReviewError
from labkit.review import NotReviewed, Report, Risk, Section, load_config, review

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "notebooks" / "review-example"
SMALL = {"doctors": 30, "patients": 1_000, "appointments": 20_000, "invoices": 2_000}
CLEAN_DDL = "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);"


@dataclass
class _Fixed:
    """A section with the risks it is given, to test the report's own logic."""

    title: str
    found: list[Risk]

    def risks(self) -> list[Risk]:
        return self.found

    def to_markdown(self) -> str:
        return f"{len(self.found)} risks\n"

    def _repr_html_(self) -> str:
        return f"<p>{len(self.found)} risks</p>"


def _risk(severity: str, area: str) -> Risk:
    return Risk(severity, area, f"{severity} in {area}", "measured: 3.0x", "do this")  # type: ignore[arg-type]


def test_the_summary_ranks_risks_by_severity_across_areas() -> None:
    report = Report(
        {
            "contract": _Fixed(
                "Contract", [_risk("info", "contract"), _risk("warning", "contract")]
            ),
            "schema": _Fixed("Schema", [_risk("error", "schema"), _risk("info", "schema")]),
            "load": NotReviewed("load", "no locustfile given"),
        },
        [],
    )
    assert [r.severity for r in report.risks()] == ["error", "warning", "info", "info"]
    assert list(report.summary()["area"]) == ["schema", "contract", "contract", "schema"]
    assert [r.severity for r in report.at_or_above("warning")] == ["error", "warning"]
    assert report.not_reviewed == {"load": "no locustfile given"}
    assert isinstance(report.sections["contract"], Section)
    markdown = report.to_markdown()
    assert markdown.index("Executive summary") < markdown.index("## Contract")
    assert "not reviewed: no locustfile given" in markdown
    with pytest.raises(ReviewError):
        report.at_or_above("fatal")  # type: ignore[arg-type]


def test_lk_review_is_callable_and_still_the_package() -> None:
    assert callable(lk.review)
    assert lk.review.load_schema is lk.review.review.__globals__["load_schema"]
    report = lk.review()
    assert set(report.not_reviewed) == {"contract", "schema", "workload", "load"}
    assert report.risks() == []


@pytest.fixture(scope="module")
def clinic() -> Report:
    """The shipped example reviewed on SQLite, smaller than its config asks."""
    config = load_config(EXAMPLE / "review.yaml")
    return review(**{**config, "scale": SMALL, "repeat": 2})


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "data")]


def test_the_html_report_is_one_offline_file_with_its_diagrams(
    clinic: Report, tmp_path: Path
) -> None:
    page, text = clinic.save(tmp_path / "clinic")
    document = page.read_text(encoding="utf-8")
    links = _Links()
    links.feed(document)
    assert not [u for u in links.urls if re.match(r"(https?:)?//", u)], links.urls
    assert "link" not in links.tags and "iframe" not in links.tags
    assert "mermaid.initialize" in document  # the drawing script is inside the file
    assert "erDiagram" in document and document.count("class='mermaid'") >= 1 + 3  # ER + plans
    assert text.read_text(encoding="utf-8").count("```mermaid") >= 1 + 3


def test_the_schema_and_workload_parts_are_sections_of_the_report(clinic: Report) -> None:
    for area in ("schema", "workload"):
        section = clinic.sections[area]
        assert isinstance(section, Section) and section.title == area.capitalize()
        assert section.risks() and section.to_markdown() and section._repr_html_()


def test_every_measured_area_carries_its_provenance(clinic: Report) -> None:
    table = clinic.provenance_table()
    assert set(table["area"]) == {"schema", "workload", "contract"}
    data = table[table["area"] != "contract"]
    assert set(data["engine"]) == {"sqlite"}
    assert all("rows in 4 tables" in s for s in data["scale"])
    assert all("cores" in m for m in table["machine"])
    for column in ("measured at (UTC)", "took"):
        assert column in table.columns
    assert "## Provenance" in clinic.to_markdown()


def test_the_clinic_shows_a_lint_error_and_a_measured_missing_index(clinic: Report) -> None:
    risks = clinic.risks()
    assert risks[0].severity == "error"
    workload = [r for r in risks if r.area == "workload"]
    assert len(workload) == 1, risks
    assert "(doctor_id, starts_at)" in workload[0].fix
    assert "faster" in workload[0].evidence and "rows" in workload[0].evidence
    assert any(r.title.startswith("float-money") for r in risks)


def test_applying_the_recommended_index_removes_the_risk(clinic: Report) -> None:
    fix = next(r.fix for r in clinic.risks() if r.area == "workload")
    config = load_config(EXAMPLE / "review.yaml")
    schema = Path(config.pop("schema")).read_text(encoding="utf-8") + f"\n{fix};\n"
    after = review(**{**config, "schema": schema, "scale": SMALL, "repeat": 2})
    assert [r for r in after.risks() if r.area == "workload"] == []
    assert not any(r.title.startswith("fk-without-index") for r in after.risks())


def test_missing_inputs_say_not_reviewed(clinic: Report) -> None:
    assert clinic.not_reviewed["load"] == "a locustfile not given"
    reviewed = review(schema=CLEAN_DDL, workload=[{"name": "q", "sql": "SELECT 1"}], scale=10)
    assert "contract" in reviewed.not_reviewed and "workload" not in reviewed.not_reviewed
    alone = review(workload=[{"name": "q", "sql": "SELECT 1"}])
    assert alone.not_reviewed["workload"] == "a workload needs a schema to run on"


def test_the_contract_part_reviews_the_clinic_v1_to_v2(clinic: Report) -> None:
    section = clinic.sections["contract"]
    assert not isinstance(section, NotReviewed)
    assert isinstance(section, Section)
    assert any(r.area == "contract" for r in clinic.risks())  # v2 renames a response field


def test_the_load_part_runs_against_a_live_service(tmp_path: Path) -> None:
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(
        "from locust import HttpUser, task\n\n\nclass U(HttpUser):\n"
        "    @task\n    def live(self):\n        self.client.get('/health/live')\n"
    )
    with lk.LiveService() as service:
        report = review(locustfile=locustfile, url=service.url, duration=3)
    assert "load" not in report.not_reviewed
    assert isinstance(report.sections["load"], Section)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"schema": CLEAN_DDL, "colour": "blue"}, "unknown key"),
        ({"schema": CLEAN_DDL, "engines": ["oracle"]}, "engines"),
        ({"workload": "missing.yaml", "schema": CLEAN_DDL}, "does not exist"),
        ({"workload": [{"sql": "SELECT 1"}], "schema": CLEAN_DDL}, "not a query"),
        ({"schema": CLEAN_DDL, "scale": "lots"}, "scale"),
        ({"schema": CLEAN_DDL, "scale": {"notes": -1}}, "scale"),
        ({"schema": CLEAN_DDL, "duration": "10s"}, "duration"),
        ({"schema": CLEAN_DDL, "engines": {"sqlite": 1}}, "engines"),
    ],
)
def test_bad_config_is_one_line_on_stderr_and_exit_two(
    config: dict[str, object], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["review", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("labkit review:") and message in err


def test_a_missing_or_malformed_config_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", str(tmp_path / "none.yaml")]) == 2
    (tmp_path / "bad.yaml").write_text("schema: [unclosed\n")
    assert main(["review", str(tmp_path / "bad.yaml")]) == 2
    (tmp_path / "list.yaml").write_text("- schema.sql\n")
    assert main(["review", str(tmp_path / "list.yaml")]) == 2
    assert capsys.readouterr().err.count("labkit review:") == 3


def test_a_clean_design_exits_zero_and_says_where_the_report_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "schema.sql").write_text(CLEAN_DDL)
    (tmp_path / "review.yaml").write_text("schema: schema.sql\nscale: 50\n")
    out = tmp_path / "out" / "report"
    assert main(["review", str(tmp_path / "review.yaml"), "--fail-on", "info", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out.with_suffix('.html')}" in printed
    assert out.with_suffix(".html").is_file() and out.with_suffix(".md").is_file()


def test_findings_at_or_above_fail_on_exit_one_from_a_terminal(tmp_path: Path) -> None:
    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example)
    config = yaml.safe_load((example / "review.yaml").read_text())
    (example / "review.yaml").write_text(yaml.safe_dump({**config, "scale": SMALL}))
    command = [sys.executable, "-m", "labkit.cli", "review", str(example / "review.yaml")]
    command += ["-o", str(tmp_path / "report")]
    failing = subprocess.run([*command, "--fail-on", "error"], capture_output=True, text=True)
    assert failing.returncode == 1, failing.stderr
    assert "at or above error" in failing.stdout and "report: " in failing.stdout
    passing = subprocess.run([*command, "--fail-on", "never"], capture_output=True, text=True)
    assert passing.returncode == 0, passing.stderr


def _data_inputs() -> dict[str, Any]:
    """The example's schema and workload only: what each engine measures."""
    config = load_config(EXAMPLE / "review.yaml")
    return {key: config[key] for key in ("schema", "workload")}


def test_each_engine_is_measured_and_named_in_the_provenance() -> None:
    config = _data_inputs()
    small = {"doctors": 10, "patients": 200, "appointments": 2_000, "invoices": 200}
    report = review(**{**config, "scale": small, "engines": ["sqlite", "duckdb"], "repeat": 1})
    workload = report.sections["workload"]
    assert [r.engine for r in workload.reviews] == ["sqlite", "duckdb"]  # type: ignore[attr-defined]
    assert list(report.provenance_table()["engine"]) == ["sqlite", "sqlite", "duckdb", "duckdb"]
    assert "Plan of doctor_schedule on duckdb" in report.to_markdown()


@pytest.mark.parametrize("engine", ["postgres-embedded", "postgres-server", "mysql"])
def test_the_review_runs_on_each_server_engine(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine == "postgres-embedded":
        monkeypatch.delenv("LABKIT_POSTGRES_URL", raising=False)
    elif engine == "postgres-server" and not os.environ.get("LABKIT_POSTGRES_URL"):
        pytest.skip("LABKIT_POSTGRES_URL is not set; set it to review on a PostgreSQL server too")
    elif engine == "mysql" and not os.environ.get("LABKIT_MYSQL_URL"):
        pytest.skip("LABKIT_MYSQL_URL is not set; set it to review on MySQL or MariaDB too")
    kind = engine.split("-")[0]
    config = _data_inputs()
    small = {"doctors": 10, "patients": 200, "appointments": 2_000, "invoices": 200}
    report = review(**{**config, "scale": small, "engines": [kind], "repeat": 1})
    assert list(report.provenance_table()["engine"]) == [kind, kind]
    assert report.sections["schema"].loads[0].total_rows == sum(small.values())  # type: ignore[attr-defined]
    assert any(r.title.startswith("float-money") for r in report.risks())


def test_a_section_that_links_off_the_page_is_made_offline() -> None:
    class _Linking(_Fixed):
        def _repr_html_(self) -> str:
            return (
                "<p><a href='https://example.com/guideline'>rule 1</a>"
                '<img src="http://example.com/x.png"><a href="#local">here</a></p>'
            )

    page = Report({"contract": _Linking("Contract", [])}, []).to_html()
    links = _Links()
    links.feed(page)
    assert not [u for u in links.urls if re.match(r"(https?:)?//", u)], links.urls
    assert "#local" in links.urls and "https://example.com/guideline" in page  # kept as text


def test_a_workload_file_may_hold_a_list_or_a_queries_key(tmp_path: Path) -> None:
    listed, keyed = tmp_path / "listed.yaml", tmp_path / "keyed.yaml"
    queries = [{"name": "q", "sql": "SELECT 1", "frequency": 3}]
    listed.write_text(yaml.safe_dump(queries))
    keyed.write_text(yaml.safe_dump({"queries": queries}))
    assert lk.review.workload_of(listed) == lk.review.workload_of(keyed)
    assert lk.review.workload_of(listed)[0].frequency == 3
    with pytest.raises(ReviewError):
        review(previous=EXAMPLE / "openapi-v1.yaml")
