import os

from shared import layout


def test_atomic_write_leaves_no_temporaries(tmp_path):
    target = tmp_path / "run" / "x.json"
    layout.write_json(target, {"a": 1})
    assert layout.read_json(target) == {"a": 1}
    assert os.listdir(target.parent) == ["x.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.json"
    layout.write_json(target, {"v": 1})

    def explode(f):
        f.write("partial")
        raise RuntimeError("disk gone")

    try:
        layout.atomic_write(target, explode)
    except RuntimeError:
        pass
    assert layout.read_json(target) == {"v": 1}
    assert os.listdir(tmp_path) == ["x.json"]


def test_artifact_names_cannot_escape_the_run_folder(tmp_path):
    run = tmp_path / "abc"
    run.mkdir()
    (run / "ok.json").write_text("{}")
    (tmp_path / "secret").write_text("s")
    (run / "link").symlink_to(tmp_path / "secret")
    assert layout.resolve_artifact(run, "ok.json") == run / "ok.json"
    for bad in ("../secret", "/etc/passwd", "link", ".hidden", "", "a/b", "..", "x\x00y", "..\\secret"):
        assert layout.resolve_artifact(run, bad) is None, bad
    assert [a["name"] for a in layout.list_artifacts(run)] == ["ok.json"]


def test_run_ids_are_validated_before_any_path_is_built():
    assert layout.is_run_id("0" * 32)
    for bad in ("../x", "0" * 31, "G" * 32, None, 5, "0" * 32 + "\n", "\n" + "0" * 32):
        assert not layout.is_run_id(bad)
