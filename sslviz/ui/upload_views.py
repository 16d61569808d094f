"""The Train page's upload and delete widgets: a zip of class folders becomes a dataset; deleting a
finished run asks for the teacher password when one is set.

The upload is checked and extracted by sslviz.server.uploads (limits, traversal, links, bombs) under the
run store, then decoded once by the folder loader in this script run, behind a spinner: a class
set of a few thousand small images takes a second or two, it is done once per upload, and it
leaves the decoded arrays in the cache so that the run that trains on it starts at once. The
report (what was skipped and why, warnings) is kept in the upload's record, so it survives the tab.

The teacher password comes from the settings (sslviz.toml or $SSLVIZ_TEACHER_PASSWORD), else from
Streamlit's secrets (`teacher_password` in .streamlit/secrets.toml).
"""

from __future__ import annotations

import streamlit as st

from sslviz.core import access
from sslviz.core.errors import SslvizError
from sslviz.core.settings import load_settings
from sslviz.server import uploads

from .common import session_owner, store

UPLOAD_LABEL = "Upload a zip of class folders"


def teacher_password() -> str:
    """The password that guards deleting runs on this server ("" when none is set)."""
    password = access.teacher_password()
    if password:
        return password
    try:
        return str(st.secrets.get("teacher_password", "") or "")
    except Exception:  # noqa: BLE001 - no secrets file, or an unreadable one: no password from there
        return ""


def dataset_options(names: list[str]) -> tuple[list[str], callable]:
    """The dataset choices for a form: registry names, then every upload (as folder:PATH), then
    "folder:…"; and a format_func that shows uploads by their file name."""
    labels = {}
    for record in uploads.list_uploads(store().root):
        labels[record["dataset"]] = f"upload: {record['name']} ({record['id']})"
    options = list(names) + list(labels) + ["folder:…"]
    return options, lambda value: labels.get(value, value)


def check_dataset_choice(name: str) -> None:
    """Refuse a typed folder outside the allowed data roots before anything is queued."""
    access.check_dataset(name, store().root)


def upload_panel() -> None:
    """Upload, check and extract a zip; show its report. Place it in the sidebar."""
    s = load_settings()
    with st.expander(UPLOAD_LABEL, expanded=bool(st.session_state.get("_upload_report"))):
        st.caption(f"One folder per class (`cat/1.jpg`, `dog/2.png`, …; `train/` and `test/` of them also work). "
                   f"At most {s.max_upload_mb} MB and {s.max_upload_files:,} files. After the upload, pick it "
                   "as the dataset above.")
        file = st.file_uploader(UPLOAD_LABEL, type=["zip"], max_upload_size=s.max_upload_mb, key="upload-zip",
                                label_visibility="collapsed")
        if file is not None and st.session_state.get("_upload_seen") != file.file_id:
            st.session_state["_upload_seen"] = file.file_id
            try:
                with st.spinner(f"checking and extracting {file.name} …"):
                    record = uploads.extract_zip(file, file.name, store().root, owner=session_owner())
                    record = uploads.check_upload(record["id"], store().root)
                st.session_state["_upload_report"] = ("ok", record["id"])
            except SslvizError as exc:
                st.session_state["_upload_report"] = ("error", str(exc))
            else:
                st.rerun()  # the form above was drawn before the upload: draw it again with the new dataset
        report = st.session_state.get("_upload_report")
        if report and report[0] == "error":
            st.error(report[1])
        elif report:
            show_upload_report(report[1])


def show_upload_report(upload_id: str) -> None:
    try:
        record = uploads.get_upload(upload_id, store().root)
    except SslvizError as exc:
        st.warning(str(exc))
        return
    check = record.get("check") or {}
    if check.get("ok") is False:
        st.error(check["error"])
        return
    lines = uploads.report_lines(record)
    st.success(lines[0])
    skipped = [s for s in record.get("skipped_files", [])] + list(check.get("skipped_files", []))
    if skipped:
        total = record.get("skipped", 0) + check.get("skipped", 0)
        st.warning(f"{total} files skipped (the first {len(skipped)} are listed)")
        st.dataframe([{"file": s["path"], "reason": s["reason"]} for s in skipped], hide_index=True,
                     key=f"skipped-{upload_id}")
    for warning in check.get("warnings", []):
        st.info(warning)


def delete_run_panel(run_id: str) -> None:
    """'Delete run' for a finished run: asks for the teacher password when one is set."""
    try:
        run = store().get(run_id)
    except SslvizError:
        return
    if run["status"] in ("queued", "running"):
        return
    password = teacher_password()
    with st.expander("Delete run"):
        st.caption(f"Deletes **{run_id}**: its metrics, checkpoint and snapshots. This cannot be undone.")
        given = st.text_input("teacher password", type="password", key=f"delete-pw-{run_id}") if password else None
        if st.button("Delete run", key=f"delete-{run_id}"):
            try:
                access.delete_run(store(), run_id, given, password)
            except SslvizError as exc:
                st.error(str(exc))
                return
            st.session_state["run"] = None
            st.query_params.pop("run", None)
            st.session_state.pop("_runs_version", None)
            st.toast(f"Deleted {run_id}")
            st.rerun()
