from __future__ import annotations

import json
import os
import threading
import time

import pytest

from paas.devstack.profiles import (
    DEFAULT_PROFILE,
    Profile,
    ProfileFile,
    load_profiles,
    profile_for_image,
    remove_profile,
    set_profile,
)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"error_rate": 1.5}, "error_rate must be between 0 and 1, got 1.5"),
        ({"error_rate": -0.1}, "error_rate must be between 0 and 1"),
        ({"error_rate": "lots"}, "error_rate must be a number"),
        ({"p99_ms": -1}, "p99_ms must not be negative"),
        ({"start_seconds": -0.5}, "start_seconds must not be negative"),
        ({"exit_code": 256}, "exit_code must be between 0 and 255, got 256"),
        ({"exit_code": -1}, "exit_code must be between 0 and 255"),
        ({"exit_code": 1.5}, "exit_code must be an integer"),
        ({"crash_loop": "maybe"}, "crash_loop must be true or false"),
        ({"colour": "red"}, "unknown profile field 'colour'"),
    ],
)
def test_invalid_fields_raise_one_clear_line_and_write_nothing(tmp_path, fields, message):
    path = tmp_path / "profiles.json"
    set_profile(path, "*:ok", p99_ms=10)
    before = path.read_text()
    with pytest.raises(ValueError) as err:
        set_profile(path, "*:bad", **fields)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert path.read_text() == before


def test_empty_glob_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="glob must not be empty"):
        set_profile(tmp_path / "p.json", " ", error_rate=0.1)


def test_values_from_a_cli_are_coerced(tmp_path):
    p = set_profile(tmp_path / "p.json", "*", error_rate="0.25", p99_ms="120", crash_loop="true", exit_code="137")
    assert p == Profile(error_rate=0.25, p99_ms=120.0, crash_loop=True, exit_code=137)


def test_missing_file_means_everything_is_healthy(tmp_path):
    assert load_profiles(tmp_path / "absent.json") == []
    assert profile_for_image([], "repo/app:v1") == DEFAULT_PROFILE
    assert DEFAULT_PROFILE.error_rate == 0.0 and not DEFAULT_PROFILE.crash_loop


def test_glob_matching_last_match_wins(tmp_path):
    path = tmp_path / "p.json"
    set_profile(path, "registry/app:*", p99_ms=100)
    set_profile(path, "*:crash*", crash_loop=True)
    set_profile(path, "registry/app@sha256:abc*", error_rate=0.5)
    entries = load_profiles(path)

    assert profile_for_image(entries, "registry/app:v1").p99_ms == 100
    assert profile_for_image(entries, "registry/app:crash-1").crash_loop is True
    assert profile_for_image(entries, "registry/app:crash-1").p99_ms == DEFAULT_PROFILE.p99_ms
    assert profile_for_image(entries, "registry/app@sha256:abcdef").error_rate == 0.5
    assert profile_for_image(entries, "other/app:v1") == DEFAULT_PROFILE
    assert profile_for_image(entries, "REGISTRY/app:v1") == DEFAULT_PROFILE  # case-sensitive

    # Setting an existing glob again updates it in place of the old entry and moves it last.
    set_profile(path, "registry/app:*", exit_code=3)
    entries = load_profiles(path)
    assert [e.image for e in entries][-1] == "registry/app:*"
    crash = profile_for_image(entries, "registry/app:crash-1")
    assert (crash.crash_loop, crash.p99_ms, crash.exit_code) == (False, 100, 3)  # fields kept, now wins


def test_remove_profile(tmp_path):
    path = tmp_path / "p.json"
    set_profile(path, "*:x", error_rate=0.1)
    assert remove_profile(path, "*:x") is True
    assert remove_profile(path, "*:x") is False
    assert load_profiles(path) == []


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "p.json"
    set_profile(path, "*:a", error_rate=0.1)
    inode = os.stat(path).st_ino
    set_profile(path, "*:b", error_rate=0.2)
    assert os.stat(path).st_ino != inode  # replaced, not rewritten in place
    assert sorted(os.listdir(tmp_path)) == ["p.json"]
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and [p["image"] for p in doc["profiles"]] == ["*:a", "*:b"]


def test_concurrent_reader_never_sees_a_partial_file(tmp_path):
    path = tmp_path / "p.json"
    set_profile(path, "*", p99_ms=1)
    stop = threading.Event()
    errors: list[Exception] = []

    def read() -> None:
        while not stop.is_set():
            try:
                load_profiles(path)
            except Exception as exc:  # a torn read would be a JSON error
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(200):
        set_profile(path, f"img-{i % 7}:*", p99_ms=i, error_rate=(i % 10) / 10)
    stop.set()
    reader.join()
    assert errors == []


def test_profile_file_rereads_changes_and_keeps_last_good_on_errors(tmp_path):
    path = tmp_path / "p.json"
    watcher = ProfileFile(path)
    assert watcher.current() == []
    set_profile(path, "*", error_rate=0.3)
    assert profile_for_image(watcher.current(), "x").error_rate == 0.3
    set_profile(path, "*", error_rate=0.4)
    assert profile_for_image(watcher.current(), "x").error_rate == 0.4

    path.write_text("{ not json")
    assert profile_for_image(watcher.current(), "x").error_rate == 0.4
    assert watcher.last_error and "not valid JSON" in watcher.last_error

    path.write_text(json.dumps({"profiles": [{"image": "*", "error_rate": 7}]}))
    assert profile_for_image(watcher.current(), "x").error_rate == 0.4
    assert "error_rate must be between 0 and 1" in watcher.last_error

    with pytest.raises(ValueError):  # set_profile refuses to overwrite a file it cannot read
        set_profile(path, "*", error_rate=0.5)
    path.write_text(json.dumps({"profiles": [{"image": "*", "error_rate": 0.5}]}))
    assert profile_for_image(watcher.current(), "x").error_rate == 0.5
    assert watcher.last_error is None


def test_running_emulator_picks_up_profile_changes_live(apps, emulator, name, wait):
    """`paas dev profile set` from another terminal = a file write the data plane re-reads."""
    td = apps.task_definition(name, f"repo/{name}:v1")
    set_profile(emulator.profiles_path, f"repo/{name}:v1", start_seconds=60)
    apps.service(name, td, desired=1)
    time.sleep(0.3)
    assert apps.describe(name)["pendingCount"] == 1
    set_profile(emulator.profiles_path, f"repo/{name}:v1", start_seconds=0)
    wait(lambda: apps.describe(name)["runningCount"] == 1, timeout=3, what="task RUNNING after profile change")
