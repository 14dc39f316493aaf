import pytest

from shared.settings import SettingsError, load_settings


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
