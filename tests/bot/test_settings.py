"""The configuration file as a user meets it: defaults, where it is found, and what errors say."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from bot.settings import (
    CONFIG_ENV,
    DEFAULT_TAG_KEYS,
    ConfigError,
    FocusSourceSettings,
    Settings,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]

ISSUE_EXAMPLE = """\
database_url: sqlite:///spendwatch.db
sources:
  - type: focus
    path: ./exports
allocation:
  tag_keys: {project: [project, proj], environment: [environment, env], owner: [owner, team]}
routing:
  default_channel: C0FINOPS
  owners: {team-support: C0SUPPORT}
"""


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the developer's shell exports must not leak into these tests."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def write_config(folder: Path, text: str, name: str = "spendwatch.yml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def config_error(folder: Path, text: str) -> str:
    path = write_config(folder, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message, "the message must say which file is wrong"
    return message


# --- where the configuration comes from -------------------------------------------------------


def test_defaults_without_file_or_env() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite:///spendwatch.db"
    assert settings.sources == []
    assert settings.allocation.tag_keys == DEFAULT_TAG_KEYS
    assert settings.allocation.rules == []
    assert settings.allocation.phase_by_environment["prod"] == "run"
    assert settings.currency.base == "USD"
    assert settings.currency.rates == {}
    assert settings.routing.default_channel == "C0FINOPS"
    assert settings.routing.owners == {}
    assert settings.quarantine_dir == Path("quarantine")
    assert settings.redelivery_min_share == 0.5


def test_empty_env_var_means_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, "")
    assert load_settings() == Settings()


def test_loads_from_config_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, "routing: {default_channel: C0MINE}\n")
    assert load_settings(path).routing.default_channel == "C0MINE"
    assert load_settings(str(path)).routing.default_channel == "C0MINE"


def test_loads_from_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, "routing: {default_channel: C0FROMENV}\n")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_settings().routing.default_channel == "C0FROMENV"


def test_config_path_wins_over_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = write_config(tmp_path / "env", "routing: {default_channel: C0FROMENV}\n")
    given = write_config(tmp_path / "given", "routing: {default_channel: C0GIVEN}\n")
    monkeypatch.setenv(CONFIG_ENV, str(from_env))
    assert load_settings(given).routing.default_channel == "C0GIVEN"


def test_env_var_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nope.yml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, ""))
    assert settings.sources == []
    assert settings.currency.base == "USD"
    assert settings.routing.default_channel == "C0FINOPS"


def test_issue_example_is_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    settings = load_settings(write_config(folder, ISSUE_EXAMPLE))

    assert settings.database_url == f"sqlite:///{folder / 'spendwatch.db'}"
    assert settings.sources == [FocusSourceSettings(type="focus", path=str(folder / "exports"))]
    tag_keys = settings.allocation.tag_keys
    assert tag_keys["project"] == ["project", "proj"]
    assert tag_keys["environment"] == ["environment", "env"]
    assert tag_keys["owner"] == ["owner", "team"]
    assert tag_keys["phase"] == DEFAULT_TAG_KEYS["phase"]
    assert tag_keys["cost_center"] == DEFAULT_TAG_KEYS["cost_center"]
    assert settings.routing.default_channel == "C0FINOPS"
    assert settings.routing.owners == {"team-support": "C0SUPPORT"}


def test_repo_example_file_loads() -> None:
    example = REPO / "spendwatch.example.yml"
    settings = load_settings(example)

    assert settings.sources and settings.sources[0].local_path == REPO / "exports"
    assert settings.currency.rates == {"EUR": 1.08}
    assert len(settings.allocation.rules) == 1
    assert settings.allocation.rules[0].set["project"] == "shared-db"
    assert settings.routing.owners == {"team-support": "C0SUPPORT"}
    assert settings.database_url == f"sqlite:///{REPO / 'spendwatch.db'}"
    assert settings.quarantine_dir == REPO / "quarantine"
    assert settings.redelivery_min_share == 0.5


# --- file problems ----------------------------------------------------------------------------


def test_missing_file_says_it_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "spendwatch.yml"
    with pytest.raises(ConfigError) as info:
        load_settings(missing)
    assert "does not exist" in str(info.value)
    assert str(missing) in str(info.value)


def test_directory_instead_of_file_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(
            "database_url: sqlite:///x.db\nsources:\n  - type: focus\n   path: ./exports\n",
            4,
            id="bad-indent",
        ),
        pytest.param(
            "database_url: sqlite:///x.db\nrouting:\n\tdefault_channel: C1\n", 3, id="tab"
        ),
    ],
)
def test_invalid_yaml_gives_the_line(tmp_path: Path, text: str, line: int) -> None:
    message = config_error(tmp_path, text)
    assert "not valid YAML" in message
    assert f"line {line}," in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    message = config_error(tmp_path, "- database_url: sqlite:///x.db\n")
    assert "mapping" in message
    assert "list" in message


# --- validation messages: key path, bad value, what is allowed --------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param(
            "sorces: []\n",
            ["sorces", "unknown key", "allocation, budgets, changes, currency, database_url, "
             "detection, escalation, finance, limits, playbooks_dir, quarantine_dir, "
             "redelivery_min_share, retention, routing, schedule, showback, sources"],
            id="unknown-top-level-key",
        ),
        pytest.param(
            "currency: {bse: EUR}\n",
            ["currency.bse", "'EUR'", "base, rates"],
            id="unknown-nested-key",
        ),
        pytest.param(
            "routing: {default_chanel: C1}\n",
            ["routing.default_chanel", "default_channel, finops, owners, responders"],
            id="unknown-routing-key",
        ),
        pytest.param(
            "allocation:\n  rules:\n    - {mach: {service: x}, set: {project: p}}\n",
            ["allocation.rules.0.mach", "match, override, set"],
            id="unknown-rule-key",
        ),
        pytest.param(
            "currency: {rates: {EUR: -1.08}}\n",
            ["currency.rates", "EUR", "-1.08", "greater than 0"],
            id="negative-rate",
        ),
        pytest.param(
            "currency: {rates: {GBP: 0}}\n",
            ["currency.rates", "GBP", "got 0", "greater than 0"],
            id="zero-rate",
        ),
        pytest.param(
            "currency: {rates: {EUR: lots}}\n",
            ["currency.rates.EUR", "'lots'", "number"],
            id="rate-not-a-number",
        ),
        pytest.param(
            "currency: {base: EURO}\n",
            ["currency.base", "'EURO'", "three-letter"],
            id="bad-base-currency",
        ),
        pytest.param(
            "database_url: mysql://db/spend\n",
            ["database_url", "'mysql://db/spend'", "sqlite:///", "postgresql+psycopg://"],
            id="bad-database-scheme",
        ),
        pytest.param(
            "allocation: {phase_by_environment: {prod: ship}}\n",
            ["allocation.phase_by_environment.prod", "'ship'", "'build', 'run' or 'move'"],
            id="bad-phase",
        ),
        pytest.param(
            "allocation: {tag_keys: {projekt: [p]}}\n",
            ["allocation.tag_keys.projekt", "'projekt'", "'project'", "'cost_center'"],
            id="unknown-tag-dimension",
        ),
        pytest.param(
            "allocation: {tag_keys: {owner: []}}\n",
            ["allocation.tag_keys", "owner", "at least one tag key"],
            id="empty-tag-keys",
        ),
        pytest.param(
            "allocation:\n  rules:\n    - {match: {acount: '1*'}, set: {project: p}}\n",
            ["allocation.rules.0.match.acount", "'acount'", "'sub_account'", "'service'"],
            id="unknown-rule-match-field",
        ),
        pytest.param(
            "allocation:\n  rules:\n    - {match: {service: x}, set: {team: p}}\n",
            ["allocation.rules.0.set.team", "'team'", "'owner'"],
            id="unknown-rule-set-field",
        ),
        pytest.param(
            "allocation:\n  rules:\n    - {match: {}, set: {project: p}}\n",
            ["allocation.rules.0.match", "at least one field"],
            id="empty-rule-match",
        ),
        pytest.param(
            "sources:\n  - {type: s3, path: ./exports}\n",
            ["sources.0", "'s3'", "'focus'"],
            id="unknown-source-type",
        ),
        pytest.param(
            "sources: {type: focus, path: ./exports}\n",
            ["sources", "list"],
            id="sources-not-a-list",
        ),
        pytest.param(
            "redelivery_min_share: 50%\n",
            ["redelivery_min_share", "'50%'", "number"],
            id="redelivery-share-not-a-number",
        ),
        pytest.param(
            "redelivery_min_share: 50\n",
            ["redelivery_min_share", "got 50", "less than or equal to 1"],
            id="redelivery-share-over-one",
        ),
    ],
)
def test_validation_error_names_key_value_and_allowed(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    message = config_error(tmp_path, text)
    assert "is invalid" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"


def test_bad_source_type_names_the_type_key(tmp_path: Path) -> None:
    message = config_error(tmp_path, "sources:\n  - {type: s3, path: ./exports}\n")
    assert "sources.0.type" in message
    assert "'s3'" in message
    assert "'focus'" in message


def test_unknown_source_key_names_path_and_allowed_keys(tmp_path: Path) -> None:
    message = config_error(tmp_path, "sources:\n  - {type: focus, paht: ./exports}\n")
    assert "sources.0.paht" in message
    assert "sources.0.path: required but missing" in message
    assert "backfill_days, currency, layout, name, path, storage_options, type" in message


def test_source_without_type_is_a_focus_source(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "sources:\n  - path: ./exports\n"))
    assert settings.sources[0].type == "focus"
    assert settings.sources[0].local_path == tmp_path / "exports"


def test_missing_source_path_is_reported(tmp_path: Path) -> None:
    message = config_error(tmp_path, "sources:\n  - {type: focus}\n")
    assert "path: required but missing" in message


def test_every_problem_is_listed(tmp_path: Path) -> None:
    message = config_error(
        tmp_path,
        "database_url: mysql://x\ncurrency: {base: EURO}\nsorces: []\n",
    )
    assert "database_url" in message
    assert "currency.base" in message
    assert "sorces" in message


# --- values as the rest of spendwatch sees them -----------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://finops@db:5432/spend", "postgresql+psycopg://finops@db:5432/spend"),
        ("postgresql+psycopg://finops@db/spend", "postgresql+psycopg://finops@db/spend"),
    ],
)
def test_postgresql_url_uses_psycopg(tmp_path: Path, given: str, expected: str) -> None:
    assert Settings(database_url=given).database_url == expected
    loaded = load_settings(write_config(tmp_path, f"database_url: {given}\n"))
    assert loaded.database_url == expected


@pytest.mark.parametrize(
    ("url", "relative_file"),
    [
        ("sqlite:///spendwatch.db", "spendwatch.db"),
        ("sqlite:///data/costs.db", "data/costs.db"),
        ("sqlite:///./costs.db", "costs.db"),
    ],
)
def test_relative_sqlite_path_is_relative_to_config_file(
    tmp_path: Path, url: str, relative_file: str
) -> None:
    folder = tmp_path / "conf"
    settings = load_settings(write_config(folder, f"database_url: {url}\n"))
    assert settings.database_url.startswith("sqlite:///")
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    assert database.is_absolute()
    assert database.resolve() == (folder / relative_file).resolve()


def test_relative_sqlite_path_with_relative_config_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path / "conf", "database_url: sqlite:///costs.db\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings("conf/spendwatch.yml")
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    assert database.resolve() == (tmp_path / "conf" / "costs.db").resolve()


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/spendwatch/costs.db", "sqlite:///:memory:", "sqlite://"],
)
def test_absolute_and_memory_sqlite_urls_are_kept(tmp_path: Path, url: str) -> None:
    settings = load_settings(write_config(tmp_path, f"database_url: '{url}'\n"))
    assert settings.database_url == url


def test_postgresql_url_is_not_treated_as_a_path(tmp_path: Path) -> None:
    url = "postgresql+psycopg://finops@db/spend"
    assert load_settings(write_config(tmp_path, f"database_url: {url}\n")).database_url == url


def test_source_paths_and_quarantine_resolve_against_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    absolute = tmp_path / "elsewhere" / "exports"
    settings = load_settings(
        write_config(
            folder,
            f"""\
            sources:
              - {{type: focus, path: ./exports/aws}}
              - {{type: focus, path: azure.csv, name: azure, currency: EUR}}
              - {{type: focus, path: {absolute}}}
            quarantine_dir: rejected
            """,
        )
    )
    assert [s.local_path for s in settings.sources] == [
        folder / "exports" / "aws",
        folder / "azure.csv",
        absolute,
    ]
    assert settings.sources[1].name == "azure"
    assert settings.sources[1].currency == "EUR"
    assert settings.quarantine_dir == folder / "rejected"


def test_default_quarantine_dir_is_beside_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "conf", "routing: {}\n"))
    assert settings.quarantine_dir == tmp_path / "conf" / "quarantine"


def test_absolute_quarantine_dir_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "q"
    settings = load_settings(write_config(tmp_path / "conf", f"quarantine_dir: {target}\n"))
    assert settings.quarantine_dir == target


def test_tag_keys_for_one_dimension_keep_the_others(tmp_path: Path) -> None:
    settings = load_settings(
        write_config(tmp_path, "allocation: {tag_keys: {project: [app, application]}}\n")
    )
    tag_keys = settings.allocation.tag_keys
    assert tag_keys["project"] == ["app", "application"]
    for dimension in ("environment", "owner", "phase", "cost_center"):
        assert tag_keys[dimension] == DEFAULT_TAG_KEYS[dimension]


def test_currency_codes_are_normalised(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "currency: {base: eur, rates: {usd: 0.9}}\n"))
    assert settings.currency.base == "EUR"
    assert settings.currency.rates == {"USD": 0.9}


def test_a_source_whose_key_variable_is_not_set_is_refused_at_start(tmp_path: Path) -> None:
    from bot.settings import check_sources, parse_settings

    settings = parse_settings({"sources": [
        {"type": "openai"},
        {"type": "sql", "url": "postgresql+psycopg://finops@warehouse/costs",
         "query": "SELECT 1", "password_env": "WAREHOUSE_PASSWORD", "name": "warehouse"}]})
    with pytest.raises(ConfigError) as caught:
        check_sources(settings, environ={})
    message = str(caught.value)
    assert "sources.0 (openai): the environment variable OPENAI_ADMIN_KEY is not set" in message
    assert "sources.1 (warehouse)" in message and "WAREHOUSE_PASSWORD" in message
    check_sources(settings, environ={"OPENAI_ADMIN_KEY": "sk-admin-x",
                                     "WAREHOUSE_PASSWORD": "pw"})  # set: accepted
