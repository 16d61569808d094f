"""The Train page's upload and delete widgets (AppTest, live refresh off)."""

from pathlib import Path

import pytest
from conftest import ROOT, tiny_config
from conftest import png_bytes as _png
from conftest import zip_bytes as _zip
from streamlit.testing.v1 import AppTest

from sslviz.server import uploads

PAGE = str(ROOT / "pages/3_Train.py")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, store):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")  # queue only: nothing trains in these tests
    monkeypatch.delenv("SSLVIZ_TEACHER_PASSWORD", raising=False)




def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    return at


def test_upload_a_zip_see_its_report_and_train_on_it(store):
    at = _page()
    blob = _zip([("pets/cat/a.png", _png(1)), ("pets/cat/b.png", _png(2)), ("pets/dog/c.png", _png(3)),
                 ("pets/dog/d.png", _png(4)), ("pets/dog/notes.txt", b"hi"), ("pets/dog/e.png", b"broken")])
    at.sidebar.file_uploader[0].set_value(("pets.zip", blob, "application/zip")).run()
    assert not at.exception
    [record] = uploads.list_uploads(store.root)
    assert any("pets.zip: 5 images in 2 class folders" in s.value for s in at.sidebar.success)
    skipped = {row["file"]: row["reason"] for row in at.sidebar.dataframe[0].value.to_dict("records")}
    assert "notes.txt" in str(skipped) and "e.png" in str(skipped)  # not extracted / could not be decoded
    assert record["check"]["ok"] and record["check"]["images"] == 4
    # the upload is now a dataset choice; a run on it is queued with its folder
    assert f"upload: pets.zip ({record['id']})" in at.sidebar.selectbox[0].options
    at.sidebar.selectbox[0].select(record["dataset"])  # listed (by its file name) right after the upload
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.sidebar.error
    [run] = store.list()
    assert run["dataset"] == record["dataset"] and run["status"] == "queued"


def test_a_bad_zip_is_refused_with_one_line_and_nothing_is_kept(store):
    at = _page()
    blob = _zip([("cat/a.png", _png(1)), ("../../escape.png", _png(2))])
    at.sidebar.file_uploader[0].set_value(("evil.zip", blob, "application/zip")).run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert any("evil.zip: entry '../../escape.png' points outside the upload" in e for e in errors), errors
    assert uploads.list_uploads(store.root) == []
    assert not any(Path(store.root, "uploads").iterdir())


def _finished_run(store) -> str:
    run_id = store.create(tiny_config().to_dict())
    store.update(run_id, status="completed")
    return run_id


def test_delete_a_run_with_the_teacher_password(store, monkeypatch):
    monkeypatch.setenv("SSLVIZ_TEACHER_PASSWORD", "s3cret")
    run_id = _finished_run(store)
    at = _page()
    at.text_input(key=f"delete-pw-{run_id}").input("guess")
    at.button(key=f"delete-{run_id}").click().run()
    assert not at.exception
    assert any("wrong password" in e.value for e in at.error)
    assert store.get(run_id)["status"] == "completed"
    at.text_input(key=f"delete-pw-{run_id}").input("s3cret")
    at.button(key=f"delete-{run_id}").click().run()
    assert not at.exception
    assert store.list() == []


def test_delete_without_a_password_set_asks_for_none(store):
    run_id = _finished_run(store)
    at = _page()
    assert not [t for t in at.text_input if t.key == f"delete-pw-{run_id}"]
    at.button(key=f"delete-{run_id}").click().run()
    assert not at.exception and store.list() == []


def test_a_running_run_has_no_delete_button(store):
    run_id = store.create(tiny_config().to_dict())  # queued
    at = _page()
    assert not [b for b in at.button if b.key == f"delete-{run_id}"]


def test_the_password_can_come_from_streamlit_secrets(store):
    run_id = _finished_run(store)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.secrets["teacher_password"] = "from-secrets"
    at.run()
    at.button(key=f"delete-{run_id}").click().run()  # no password typed
    assert any("needs the teacher password" in e.value for e in at.error)
    assert store.get(run_id)["status"] == "completed"
    at.text_input(key=f"delete-pw-{run_id}").input("from-secrets")
    at.button(key=f"delete-{run_id}").click().run()
    assert not at.exception and store.list() == []
