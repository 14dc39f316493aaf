from pathlib import Path

import pytest

from shared.settings import Settings, SettingsError, env_name, load_settings, markdown_table, table


def test_defaults(monkeypatch):
    for name in ("REDIS_URL", "RESULTS_DIR", "DATA_DIR", "WEB_HOST", "WEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert (s.redis_url, s.results_dir, s.data_dir, s.web_host, s.web_port) == (
        "redis://localhost:6379/0",
        "./results",
        "./data",
        "127.0.0.1",
        8000,
    )


@pytest.mark.parametrize(
    "name,value",
    [
        ("WEB_PORT", "eighty"),
        ("WEB_PORT", "70000"),
        ("REDIS_URL", "http://x"),
        ("LEASE_SECONDS", "0"),
        ("TRAINBOARD_DEVICE", "tpu"),
    ],
)
def test_bad_values_fail_fast_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


@pytest.mark.parametrize(
    "name,value",
    [
        ("TRAINBOARD_GPU_INDEX", "one"),  # once silently None
        ("ASYNC_MODE", "tornado"),
        ("LOG_LEVEL", "loud"),
        ("WORKER_GPUS", "0,0"),
        ("WORKER_TRAINERS", "0"),
        ("RECORDER", "maybe"),
        ("PUBLIC_URL", "localhost:8000"),
        ("ARTIFACTS_URL", "ftp://x"),
    ],
)
def test_every_row_is_checked_at_start(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_numbers_are_held_to_the_rows_bounds():
    for f in table():
        low, high = f.metadata["low"], f.metadata["high"]
        if low is None:
            continue
        name = env_name(f)
        kind = int if isinstance(f.default, int) or f.name == "gpu_index" else float
        assert getattr(load_settings({name: str(kind(low))}), f.name) == low
        assert getattr(load_settings({name: str(kind(high))}), f.name) == high
        with pytest.raises(SettingsError, match=name):
            load_settings({name: str(kind(low) - 1)})
        with pytest.raises(SettingsError, match=name):
            load_settings({name: str(kind(high) + 1)})


def test_an_unset_or_empty_variable_is_the_default():
    assert load_settings({}) == load_settings({env_name(f): "" for f in table()}) == Settings()


def test_the_password_goes_into_the_url_and_never_into_the_repr():
    s = load_settings({"REDIS_PASSWORD": "p w/", "API_TOKEN": "tok"})
    assert s.redis_url == "redis://:p%20w%2F@localhost:6379/0"
    assert "p w/" not in repr(s) and "tok" not in repr(s)


def test_the_configuration_docs_are_the_table():
    """docs/configuration.md's table is generated from shared/settings.py
    (``python -m shared.settings --markdown``): one place to add a setting."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert markdown_table() in docs, "regenerate: python -m shared.settings --write-docs"
    for f in table():
        assert f.metadata["help"], f"{f.name} has no help"


def test_write_docs_replaces_only_the_table(tmp_path):
    from shared.settings import write_docs

    doc = tmp_path / "configuration.md"
    old_table = "| variable | default | meaning |\n|---|---|---|\n| `OLD` | `1` | gone |"
    doc.write_text(f"# Configuration\n\nintro\n\n{old_table}\n\nafter\n")
    assert write_docs(doc)
    text = doc.read_text()
    assert text.startswith("# Configuration\n\nintro\n\n") and text.endswith("\n\nafter\n")
    assert markdown_table() in text and "`OLD`" not in text
    assert not write_docs(doc), "a second write changes nothing"
